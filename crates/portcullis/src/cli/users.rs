//! `portcullis users create-admin`: the first administrator.
#![allow(clippy::print_stdout)]

use std::io::Read;

use anyhow::Context;
use clap::Subcommand;
use portcullis_domain::{Email, Password};
use portcullis_service::Caller;

use crate::{config::GlobalConfig, startup};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create the first administrator (only while there are no users).
    /// Prints a one-time password, or reads one from stdin with --password-stdin.
    CreateAdmin {
        #[arg(long)]
        email: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

pub async fn run(global: &GlobalConfig, command: UsersCommand) -> anyhow::Result<()> {
    let UsersCommand::CreateAdmin { email, password_stdin } = command;
    let email = Email::parse(&email).context("--email")?;
    let password = if password_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("could not read the password from stdin")?;
        Some(Password::from(text.trim_end_matches(['\r', '\n'])))
    } else {
        None
    };
    let service = startup::open_cli_service(global).await?;
    let (view, generated) =
        service.create_first_admin(&Caller::cli(), email, password).await.map_err(|e| match e {
            portcullis_service::ServiceError::UsersExist => {
                anyhow::anyhow!(
                    "there are users already: create more with the admin API (POST /api/v1/users)"
                )
            }
            other => other.into(),
        })?;
    println!("Created administrator {} ({})", view.user.email, view.user.id);
    if let Some(password) = generated {
        println!();
        // The CLI's answer: the one place this password is shown.
        println!("  password: {}", password.expose());
        println!();
        println!("The password is shown only this once: store it now, or change it after signing in.");
    }
    Ok(())
}
