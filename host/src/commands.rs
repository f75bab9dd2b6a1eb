//! One module per subcommand.

pub mod automation;
pub mod bench;
pub mod cache;
pub mod command;
pub mod fetch;
pub mod image;
pub mod mcp;
pub mod run;
pub mod serve;
