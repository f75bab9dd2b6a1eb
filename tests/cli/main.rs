//! Integration tests: the real `sandrun` binary on the real Python image.

mod harness;
mod servers;

mod automation;
mod bench;
mod cases;
mod command;
mod concurrency;
mod errors;
mod escape;
mod handler;
mod limits;
mod mcp;
mod remote;
mod serve;
mod servers_selftest;
mod sessions;
mod ssm_command;
mod stdlib;
mod tools;
