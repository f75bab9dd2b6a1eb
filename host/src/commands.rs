//! One module per subcommand.

pub mod bench;
pub mod image;
pub mod run;
