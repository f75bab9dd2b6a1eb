//! One module per subcommand.

pub mod bench;
pub mod cache;
pub mod fetch;
pub mod image;
pub mod run;
