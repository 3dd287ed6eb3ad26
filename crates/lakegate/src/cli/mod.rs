//! The `lakegate` command line. Secrets come from files or stdin, never from argv.

mod admin;
mod backup;
mod doctor;
mod keys;
mod serve;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::accounts::Role;
use crate::auth::api_token;
use crate::config::Config;
use crate::crypto::envelope::Keyring;
use crate::crypto::master_key::Loaded;
use crate::egress::Egress;
use crate::store::Store;

#[cfg_attr(not(feature = "demo"), allow(unused_imports))]
pub(crate) use serve::{serve_until, shutdown_signal};

#[derive(Debug, Parser)]
#[command(
    name = "lakegate",
    version,
    about = "Per-user OAuth connections to data warehouses"
)]
pub struct Cli {
    /// TOML configuration file; LAKEGATE_* environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (applies pending migrations first).
    Serve,
    /// Try the whole journey locally: the Databricks emulator and Lakegate on loopback,
    /// with a demo organization, users and the app connection's credentials printed.
    Demo(crate::demo::DemoArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Write a consistent copy of the SQLite store to a new file, while Lakegate serves
    /// (PostgreSQL: pg_dump). The master key is not in it.
    Backup {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Check the store, the clock, the master key and every integration; one line per
    /// check, a non-zero exit on any problem.
    Doctor,
    /// Restore a backup into this configuration's SQLite store, which must not exist yet.
    Restore {
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Rotate the master key and the org data keys while Lakegate serves.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Manage organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage personal API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage an organization's service keys (a platform's backend acting for its users).
    #[command(subcommand, name = "service-key")]
    ServiceKey(ServiceKeyCommand),
    /// Manage an organization's integrations (the Databricks OAuth U2M app).
    #[command(subcommand)]
    Integration(IntegrationCommand),
}

/// An integration kind: any provider's kind id (`databricks-oauth-u2m`, …).
#[derive(Clone, Copy)]
pub struct IntegrationKind(pub &'static dyn crate::providers::Provider);

impl std::fmt::Debug for IntegrationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.info().kind)
    }
}

impl clap::ValueEnum for IntegrationKind {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: std::sync::LazyLock<Vec<IntegrationKind>> = std::sync::LazyLock::new(|| {
            crate::providers::ALL
                .iter()
                .map(|p| IntegrationKind(*p))
                .collect()
        });
        &ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.0.info().kind))
    }
}

#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    /// Create or update it; the secret is read from a file, or stdin with `-` (optional on update).
    Set {
        kind: IntegrationKind,
        #[arg(long)]
        org: String,
        /// The workspace or account host (none for BigQuery: Google's endpoints are fixed).
        #[arg(long)]
        host: Option<String>,
        #[arg(long)]
        client_id: String,
        #[arg(long, value_name = "FILE|-")]
        client_secret_file: Option<PathBuf>,
        /// Space- or comma-separated; default "all-apis offline_access".
        #[arg(long)]
        scopes: Option<String>,
    },
    /// Show it (never the secret).
    Show {
        kind: IntegrationKind,
        #[arg(long)]
        org: String,
    },
    /// Delete it.
    Delete {
        kind: IntegrationKind,
        #[arg(long)]
        org: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
    /// List organizations.
    List,
}

#[derive(Debug, Args)]
pub struct UserRef {
    /// Organization slug.
    #[arg(long)]
    org: String,
    #[arg(long)]
    email: String,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from a file, or from stdin with `-`.
    Create {
        #[command(flatten)]
        who: UserRef,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, value_name = "FILE|-")]
        password_file: PathBuf,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List the users of an organization.
    List {
        #[arg(long)]
        org: String,
    },
    /// Change a user's role.
    SetRole {
        #[command(flatten)]
        who: UserRef,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Disable a user: their sessions end and their API tokens stop working.
    Disable {
        #[command(flatten)]
        who: UserRef,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a personal API token and print it (only the token) on stdout.
    Create {
        #[command(flatten)]
        who: UserRef,
        #[arg(long)]
        name: String,
        /// Comma-separated: connections:read, connections:write, queries:run, tokens:vend, admin.
        #[arg(long)]
        scopes: String,
        #[arg(long, default_value_t = api_token::DEFAULT_TTL_DAYS)]
        expires_days: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceKeyCommand {
    /// Create a service key and print it (only the key) on stdout.
    Create {
        /// The organization's slug.
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: connections:read, connections:write, queries:run, tokens:vend.
        #[arg(long)]
        scopes: String,
        #[arg(long, default_value_t = api_token::DEFAULT_TTL_DAYS)]
        expires_days: i64,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("{s:?} is not a role; use admin, editor or viewer"))
}

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let config = Config::load(cli.config.as_deref(), &env)?;
    match cli.command {
        Command::Serve => serve::serve(config).await,
        Command::Demo(args) => crate::demo::run(args).await,
        Command::Migrate => {
            let store = open_store(&config).await?;
            store.migrate().await.context("migrations failed")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Doctor => doctor::doctor(&config).await,
        Command::Backup { out } => backup::backup(&config, &out).await,
        Command::Restore { from } => backup::restore(&config, &from).await,
        Command::Keys(cmd) => keys::run(&config, cmd).await,
        Command::Org(cmd) => admin::org(&config, cmd).await,
        Command::User(cmd) => admin::user(&config, cmd).await,
        Command::Token(cmd) => admin::token(&config, cmd).await,
        Command::ServiceKey(cmd) => admin::service_key(&config, cmd).await,
        Command::Integration(cmd) => admin::integration(&config, cmd).await,
    }
}

/// The key ring over the master key, creating the key file on first use, with the previous
/// master keys of the keyring setting (which must exist: they are never created).
pub(crate) fn load_keyring(config: &Config) -> anyhow::Result<Keyring> {
    keyring(config, true)
}

/// The same, creating nothing when `create` is false.
pub(crate) fn keyring(config: &Config, create: bool) -> anyhow::Result<Keyring> {
    let previous = config
        .previous_master_keys
        .iter()
        .map(|source| source.load(false).map(|(key, _)| key))
        .collect::<Result<Vec<_>, _>>()
        .context("previous_master_key_files")?;
    let (key, loaded) = config.master_key.load(create)?;
    if let Loaded::Created(path) = loaded {
        tracing::warn!(path = %path.display(), "created a new master key file (mode 0600); back it up: without it stored secrets cannot be read");
        eprintln!(
            "note: created a new master key file at {} (mode 0600); back it up",
            path.display()
        );
    }
    Ok(Keyring::with_previous(key, previous))
}

/// The guarded outbound client from the `[egress]` settings.
pub(crate) fn build_egress(config: &Config) -> anyhow::Result<Egress> {
    Ok(Egress::new(
        config.egress.policy.clone(),
        extra_ca(config)?.as_deref(),
    )?)
}

/// The webhook receivers' client: the `[webhooks]` policy, the same extra CA.
pub(crate) fn build_webhook_egress(config: &Config) -> anyhow::Result<Egress> {
    Ok(Egress::new(
        config.webhooks.clone(),
        extra_ca(config)?.as_deref(),
    )?)
}

fn extra_ca(config: &Config) -> anyhow::Result<Option<Vec<u8>>> {
    config
        .egress
        .extra_ca_file
        .as_ref()
        .map(|path| {
            std::fs::read(path)
                .with_context(|| format!("cannot read egress.extra_ca_file {}", path.display()))
        })
        .transpose()
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    Store::connect(&config.database_url).await.with_context(|| {
        format!(
            "cannot open the database at database_url ({})",
            redact_url(&config.database_url)
        )
    })
}

/// Administrative commands migrate first, so a fresh install works in any order.
pub(crate) async fn ready_store(config: &Config) -> anyhow::Result<Store> {
    let store = open_store(config).await?;
    store.migrate().await.context("migrations failed")?;
    Ok(store)
}

/// Hides a password in a database URL before it is printed.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
