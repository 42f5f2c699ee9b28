//! `mybuild login [SERVER]` and `mybuild logout [SERVER]`, as `docker
//! login` / `logout`: credentials are checked against the registry first,
//! then kept by the configured credential helper or in the Docker CLI
//! config file, where builds and pushes (and docker itself) find them.

use anyhow::{bail, Context as _};
use clap::Args;
use mybuild_registry::{
    default_config_path, erase_login, login_registry, server_url, store_login, Erased,
    RegistryClient, Stored,
};
use std::io::Read as _;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Registry to log in to [default: Docker Hub]
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password (visible to other users of this machine: prefer --password-stdin)
    #[arg(short = 'p', long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// Registry to reach over plain HTTP (loopback ones always are)
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Registry to log out from [default: Docker Hub]
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

fn config_path() -> anyhow::Result<PathBuf> {
    default_config_path().context("no Docker config location: set DOCKER_CONFIG or HOME")
}

/// The password from `-p` or stdin, as Docker takes it.
fn password(args: &LoginArgs) -> anyhow::Result<String> {
    if let Some(p) = &args.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        return Ok(p.clone());
    }
    if !args.password_stdin {
        bail!("Username and password required: give -u USER with --password-stdin (or -p)");
    }
    let mut p = String::new();
    std::io::stdin()
        .read_to_string(&mut p)
        .context("reading the password from stdin")?;
    // `echo pw | mybuild login` sends a newline that is no part of it.
    let p = p.trim_end_matches(['\n', '\r']).to_string();
    if p.is_empty() {
        bail!("password on stdin is empty");
    }
    Ok(p)
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let Some(username) = args.username.clone().filter(|u| !u.is_empty()) else {
        if args.password_stdin {
            bail!("Must provide --username with --password-stdin");
        }
        bail!("Username and password required: give -u USER with --password-stdin (or -p)");
    };
    let password = password(&args)?;
    let registry = login_registry(args.server.as_deref());
    let client = RegistryClient::new(args.insecure_registries.clone())?;
    client
        .verify_login(&registry, &username, &password)
        .await
        .with_context(|| format!("login to {registry} as {username}"))?;
    let config = config_path()?;
    let stored = store_login(&config, &registry, &username, &password)
        .await
        .with_context(|| format!("storing the login for {registry}"))?;
    if stored == Stored::ConfigFile {
        eprintln!(
            "WARNING! Your password will be stored unencrypted in {}.\n\
             Configure a credential helper to remove this warning. See\n\
             https://docs.docker.com/go/credential-store/\n",
            config.display()
        );
    }
    println!("Login Succeeded");
    Ok(())
}

pub async fn logout(args: LogoutArgs) -> anyhow::Result<()> {
    let registry = login_registry(args.server.as_deref());
    let shown = server_url(&registry);
    let config = config_path()?;
    let erased = erase_login(&config, &registry)
        .await
        .with_context(|| format!("removing the login for {shown}"))?;
    match erased {
        Erased::NotLoggedIn => println!("Not logged in to {shown}"),
        Erased::Removed { warnings } => {
            println!("Removing login credentials for {shown}");
            for w in warnings {
                eprintln!("WARNING: could not erase credentials: {shown}: {w}");
            }
        }
    }
    Ok(())
}
