//! The `lakegate` command line. Secrets come from files or stdin, never from argv.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Parser, Subcommand};

use crate::accounts::Role;
use crate::accounts::service::{self, NewUserInput, UserPatch};
use crate::app::{AppState, WebSettings};
use crate::audit::Actor;
use crate::auth::api_token::{self, NewToken};
use crate::auth::scope;
use crate::auth::session::Lifetimes;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::crypto::envelope::Keyring;
use crate::crypto::master_key::Loaded;
use crate::egress::Egress;
use crate::secret::Secret;
use crate::store::Store;

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
    /// Manage organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage personal API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage an organization's integrations (the Databricks OAuth U2M app).
    #[command(subcommand)]
    Integration(IntegrationCommand),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum IntegrationKind {
    #[value(name = "databricks-oauth-u2m")]
    DatabricksOauthU2m,
}

#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    /// Create or update it; the secret is read from a file, or stdin with `-` (optional on update).
    Set {
        kind: IntegrationKind,
        #[arg(long)]
        org: String,
        #[arg(long)]
        host: String,
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

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("{s:?} is not a role; use admin, editor or viewer"))
}

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let config = Config::load(cli.config.as_deref(), &env)?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Demo(args) => crate::demo::run(args).await,
        Command::Migrate => {
            let store = open_store(&config).await?;
            store.migrate().await.context("migrations failed")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Org(cmd) => org(&config, cmd).await,
        Command::User(cmd) => user(&config, cmd).await,
        Command::Token(cmd) => token(&config, cmd).await,
        Command::Integration(cmd) => integration(&config, cmd).await,
    }
}

/// The key ring over the master key, creating the key file on first use.
pub(crate) fn load_keyring(config: &Config) -> anyhow::Result<Keyring> {
    let (key, loaded) = config.master_key.load(true)?;
    if let Loaded::Created(path) = loaded {
        tracing::warn!(path = %path.display(), "created a new master key file (mode 0600); back it up: without it stored secrets cannot be read");
        eprintln!(
            "note: created a new master key file at {} (mode 0600); back it up",
            path.display()
        );
    }
    Ok(Keyring::new(key))
}

/// The guarded outbound client from the `[egress]` settings.
pub(crate) fn build_egress(config: &Config) -> anyhow::Result<Egress> {
    let ca = match &config.egress.extra_ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read egress.extra_ca_file {}", path.display()))?,
        ),
        None => None,
    };
    Ok(Egress::new(config.egress.policy.clone(), ca.as_deref())?)
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

async fn org(config: &Config, cmd: OrgCommand) -> anyhow::Result<()> {
    let store = ready_store(config).await?;
    let now = SystemClock.now();
    match cmd {
        OrgCommand::Create { slug, name } => {
            let org = service::create_org(&store, now, &Actor::cli(None), &slug, &name).await?;
            println!("created organization {} ({})", org.slug, org.id);
        }
        OrgCommand::List => {
            for org in store.list_orgs().await? {
                println!("{}\t{}\t{}", org.slug, org.name, org.id);
            }
        }
    }
    Ok(())
}

async fn user(config: &Config, cmd: UserCommand) -> anyhow::Result<()> {
    let store = ready_store(config).await?;
    let now = SystemClock.now();
    match cmd {
        UserCommand::Create {
            who,
            role,
            password_file,
            display_name,
        } => {
            let org = service::org_by_slug(&store, &who.org).await?;
            let password = read_secret(&password_file)?;
            let input = NewUserInput {
                email: who.email,
                display_name,
                role,
                password: Some(password),
            };
            let user =
                service::create_user(&store, now, &Actor::cli(Some(org.id.clone())), &org, input)
                    .await?;
            println!(
                "created user {} ({}) with role {}",
                user.email, user.id, user.role
            );
        }
        UserCommand::List { org } => {
            let org = service::org_by_slug(&store, &org).await?;
            for u in store.list_users(&org.id).await? {
                let status = if u.disabled { "disabled" } else { "active" };
                println!("{}\t{}\t{}\t{}", u.email, u.role, status, u.id);
            }
        }
        UserCommand::SetRole { who, role } => {
            let (org, u) = find_user(&store, &who).await?;
            let patch = UserPatch {
                role: Some(role),
                ..Default::default()
            };
            service::update_user(&store, now, &Actor::cli(Some(org.clone())), &org, &u, patch)
                .await?;
            println!("{} is now {}", who.email, role);
        }
        UserCommand::Disable { who } => {
            let (org, u) = find_user(&store, &who).await?;
            let patch = UserPatch {
                disabled: Some(true),
                ..Default::default()
            };
            service::update_user(&store, now, &Actor::cli(Some(org.clone())), &org, &u, patch)
                .await?;
            println!("{} is disabled", who.email);
        }
    }
    Ok(())
}

async fn find_user(store: &Store, who: &UserRef) -> anyhow::Result<(String, String)> {
    let org = service::org_by_slug(store, &who.org).await?;
    let email = crate::accounts::Email::parse(&who.email).map_err(|e| anyhow!(e))?;
    let user = store
        .user_by_email(&org.id, email.as_str())
        .await
        .map_err(|_| anyhow!("no user {} in organization {}", who.email, who.org))?;
    Ok((org.id, user.id))
}

async fn token(config: &Config, cmd: TokenCommand) -> anyhow::Result<()> {
    let store = ready_store(config).await?;
    let now = SystemClock.now();
    let TokenCommand::Create {
        who,
        name,
        scopes,
        expires_days,
    } = cmd;
    let scopes = scope::parse_list(&scopes).map_err(|e| anyhow!(e))?;
    let (org_id, user_id) = find_user(&store, &who).await?;
    let user = store.user_in_org(&org_id, &user_id).await?;
    let req = NewToken {
        name: &name,
        scopes,
        ttl_days: Some(expires_days),
    };
    let (secret, _) = api_token::create(&store, now, &Actor::cli(Some(org_id)), &user, req).await?;
    println!("{}", secret.expose());
    Ok(())
}

async fn integration(config: &Config, cmd: IntegrationCommand) -> anyhow::Result<()> {
    let store = ready_store(config).await?;
    let now = SystemClock.now();
    match cmd {
        IntegrationCommand::Set {
            kind: IntegrationKind::DatabricksOauthU2m,
            org,
            host,
            client_id,
            client_secret_file,
            scopes,
        } => {
            let org = service::org_by_slug(&store, &org).await?;
            let keyring = load_keyring(config)?;
            let egress = build_egress(config)?;
            let client_secret = client_secret_file.as_deref().map(read_secret).transpose()?;
            let deps = crate::integrations::service::Deps {
                store: &store,
                keyring: &keyring,
                egress: &egress,
            };
            let input = crate::integrations::service::SaveInput {
                host,
                client_id,
                client_secret,
                scopes,
                lifetimes: None,
            };
            let row = crate::integrations::service::save(
                &deps,
                now,
                &Actor::cli(Some(org.id.clone())),
                &org.id,
                input,
            )
            .await?;
            println!(
                "saved: {} on {} (scopes: {})",
                row.client_id, row.host, row.scopes
            );
        }
        IntegrationCommand::Show {
            kind: IntegrationKind::DatabricksOauthU2m,
            org,
        } => {
            let org = service::org_by_slug(&store, &org).await?;
            let Some(row) = store
                .integration(&org.id, crate::integrations::DATABRICKS_U2M)
                .await?
            else {
                bail!(
                    "the Databricks OAuth U2M integration is not configured for {}",
                    org.slug
                );
            };
            println!(
                "host\t{}\nclient_id\t{}\nclient_secret_set\ttrue\nscopes\t{}",
                row.host, row.client_id, row.scopes
            );
            println!(
                "token_endpoint\t{}\nupdated_by\t{}",
                row.token_endpoint, row.updated_by
            );
            if let Some(url) = &config.public_url {
                println!("redirect_url\t{}", crate::integrations::redirect_url(url));
            }
        }
        IntegrationCommand::Delete {
            kind: IntegrationKind::DatabricksOauthU2m,
            org,
        } => {
            let org = service::org_by_slug(&store, &org).await?;
            crate::integrations::service::delete(
                &store,
                now,
                &Actor::cli(Some(org.id.clone())),
                &org.id,
            )
            .await?;
            println!(
                "deleted the Databricks OAuth U2M integration of {}",
                org.slug
            );
        }
    }
    Ok(())
}

/// Reads a secret from a file, or stdin for `-`, without its final line break.
fn read_secret(path: &std::path::Path) -> anyhow::Result<Secret> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the secret from stdin")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the secret file {}", path.display()))?;
    }
    let trimmed = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if trimmed.is_empty() {
        bail!("the secret read from {} is empty", path.display());
    }
    Ok(Secret::new(trimmed))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    crate::telemetry::init(config.log_format, &config.log_level);
    serve_until(config, shutdown_signal()).await
}

/// Serves until `shutdown` completes (logging must be initialised by the caller).
pub(crate) async fn serve_until(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let public_url = config.require_public_url()?.clone();
    let keyring = Arc::new(load_keyring(&config)?);
    let egress = build_egress(&config)?;
    if !config.egress.policy.insecure_http_hosts.is_empty() {
        tracing::warn!(
            "egress.insecure_http_hosts allows plain http to some hosts: use this for loopback development only"
        );
    }
    let store = open_store(&config).await?;
    store.migrate().await.context("migrations failed")?;
    let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow!("cannot listen on {}: the address is already in use (set `listen` or LAKEGATE_LISTEN)", config.listen)
        } else {
            anyhow!("cannot listen on {}: {e}", config.listen)
        }
    })?;
    let life = Lifetimes {
        idle_seconds: config.session_idle_seconds,
        absolute_seconds: config.session_absolute_seconds,
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = AppState::new(
        store.clone(),
        clock.clone(),
        WebSettings::new(public_url.clone(), life),
        keyring,
        egress,
    );
    tokio::spawn(sweep_sessions(store.clone(), clock, life));
    tokio::spawn(follow_up_queries(state.clone()));
    tokio::spawn(refresh_tokens(
        state.clone(),
        config.token_keepalive_seconds,
        config.reconsent_warning_seconds,
    ));
    tracing::info!(listen = %config.listen, public_url = %public_url, backend = ?store.backend(), "lakegate is serving");
    crate::app::serve(listener, state, shutdown).await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Deletes expired sessions every ten minutes (they are refused anyway; this keeps the
/// table small).
async fn sweep_sessions(store: Store, clock: Arc<dyn Clock>, life: Lifetimes) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        tick.tick().await;
        if let Err(e) = store
            .delete_stale_sessions(clock.now(), life.idle_seconds)
            .await
        {
            tracing::warn!(error = %e, "session sweep failed");
        }
    }
}

/// Every minute, follow up queries nobody polls (their own task: a slow workspace must not
/// hold up token refreshes).
async fn follow_up_queries(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tick.tick().await;
        crate::queries::service::sweep_unfinished(&state, 100).await;
    }
}

/// The background refresher: every 30 s, renew access tokens about to expire and keep idle
/// refresh tokens alive. Every replica runs it; the store lease keeps refreshes single.
async fn refresh_tokens(state: AppState, keepalive_seconds: i64, warning_seconds: i64) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
    loop {
        tick.tick().await;
        let n = crate::connections::refresh::refresh_due(&state, keepalive_seconds, 4).await;
        if n > 0 {
            tracing::info!(refreshed = n, "background token refresh");
        }
        crate::connections::refresh::warn_due(&state, warning_seconds).await;
        if let Err(e) = state.store.delete_stale_flows(state.now()).await {
            tracing::warn!(error = %e, "could not sweep expired sign-in flows");
        }
    }
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
