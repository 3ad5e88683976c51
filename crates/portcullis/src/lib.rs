//! The `portcullis` binary: configuration, start-up and the command line.

pub mod cli;
pub mod config;
pub mod startup;
