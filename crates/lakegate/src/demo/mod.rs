//! `lakegate demo`: the seed's whole journey on one machine. Starts the Databricks emulator
//! and Lakegate on loopback with a SQLite store in a demo folder, creates the org `demo`
//! with an admin, an analyst and a viewer, registers Lakegate's redirect URL as an app
//! connection in the emulator, and prints the Client ID, Client Secret and Host an admin
//! pastes on Settings › Advanced › Integrations.
//!
//! The emulator is linked only with the `demo` feature: production builds do not contain it.

use std::path::PathBuf;

use clap::Args;

#[cfg(feature = "demo")]
mod extras;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Lakegate's port on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The emulated Databricks workspace's port on 127.0.0.1.
    #[arg(long, default_value_t = 8081)]
    pub emulator_port: u16,
    /// Where the demo keeps its store, keys and generated secrets.
    #[arg(long, default_value = "data/demo")]
    pub data_dir: PathBuf,
    /// Start from scratch: delete the demo folder's previous contents first.
    #[arg(long)]
    pub fresh: bool,
    /// Also configure the Databricks integration, so users can go straight to connections.
    #[arg(long)]
    pub preconfigured: bool,
    /// Serve the emulated workspace over HTTPS with a CA created for the demo (Lakegate
    /// trusts it; your browser will warn about it). By default it is plain HTTP on loopback.
    #[arg(long)]
    pub emulator_tls: bool,
}

#[cfg(not(feature = "demo"))]
pub async fn run(_args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!(
        "this build of lakegate has no demo (it is left out of production builds); run it with: cargo run --release -p lakegate --features demo -- demo"
    )
}

#[cfg(feature = "demo")]
pub use with_emulator::run;

#[cfg(feature = "demo")]
mod with_emulator {
    use std::collections::HashMap;
    use std::path::Path;

    use anyhow::Context;
    use warehouse_emulator::{AppConfig, Emulator, EmulatorConfig, TokenPolicy, WarehouseConfig};

    use super::DemoArgs;
    use crate::accounts::service::NewUserInput;
    use crate::accounts::{Org, Role};
    use crate::audit::Actor;
    use crate::clock::SystemClock;
    use crate::config::Config;
    use crate::crypto::random;
    use crate::secret::Secret;
    use crate::store::Store;

    /// What a demo folder remembers between runs (mode 0600): the app connection's
    /// credentials and the users' passwords.
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct Remembered {
        client_id: String,
        client_secret: String,
        admin_password: String,
        analyst_password: String,
        viewer_password: String,
        /// The emulated Snowflake security integration's client (absent in folders made
        /// before it existed: made then, and remembered).
        #[serde(default)]
        snowflake_client_id: Option<String>,
        #[serde(default)]
        snowflake_client_secret: Option<String>,
        /// The emulated Google OAuth client (likewise).
        #[serde(default)]
        google_client_id: Option<String>,
        #[serde(default)]
        google_client_secret: Option<String>,
    }

    impl Remembered {
        fn snowflake(&self) -> (&str, &str) {
            (
                self.snowflake_client_id.as_deref().unwrap_or_default(),
                self.snowflake_client_secret.as_deref().unwrap_or_default(),
            )
        }
        fn google(&self) -> (&str, &str) {
            (
                self.google_client_id.as_deref().unwrap_or_default(),
                self.google_client_secret.as_deref().unwrap_or_default(),
            )
        }
    }

    /// Base64 with `+ / =`, as Snowflake issues client ids and secrets.
    fn snowflake_credential(bytes: usize) -> String {
        use base64::Engine;
        let mut raw = vec![0u8; bytes];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
        base64::engine::general_purpose::STANDARD.encode(raw)
    }

    const REMEMBERED: &str = "demo.json";

    /// Empties the folder for `--fresh`, refusing anything that is not a demo folder.
    fn prepare(dir: &Path, fresh: bool) -> anyhow::Result<()> {
        if fresh && dir.exists() {
            let is_demo = dir.join(REMEMBERED).exists()
                || std::fs::read_dir(dir)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false);
            if !is_demo {
                anyhow::bail!(
                    "refusing to empty {}: it is not a Lakegate demo folder (no {REMEMBERED}); pass another --data-dir",
                    dir.display()
                );
            }
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        Ok(())
    }

    /// Refuses early, and clearly, when a port is taken.
    fn check_port(port: u16, what: &str, flag: &str) -> anyhow::Result<()> {
        match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
                "port {port} is already in use (another Lakegate or demo?): start {what} on another port with {flag} <port>"
            ),
            Err(e) => anyhow::bail!("cannot listen on 127.0.0.1:{port} for {what}: {e}"),
        }
    }

    fn remember(dir: &Path) -> anyhow::Result<Remembered> {
        let path = dir.join(REMEMBERED);
        let mut r = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str::<Remembered>(&text).with_context(|| {
                format!("{} is damaged; start over with --fresh", path.display())
            })?,
            Err(_) => Remembered {
                client_id: uuid::Uuid::new_v4().to_string(),
                client_secret: random::token("dose"),
                admin_password: password(),
                analyst_password: password(),
                viewer_password: password(),
                snowflake_client_id: None,
                snowflake_client_secret: None,
                google_client_id: None,
                google_client_secret: None,
            },
        };
        if r.snowflake_client_id.is_none() || r.snowflake_client_secret.is_none() {
            r.snowflake_client_id = Some(snowflake_credential(21));
            r.snowflake_client_secret = Some(snowflake_credential(33));
        }
        if r.google_client_id.is_none() || r.google_client_secret.is_none() {
            // The shapes Google issues: `<number>-<id>.apps.googleusercontent.com`, `GOCSPX-…`.
            let id: String = password().to_lowercase();
            r.google_client_id = Some(format!("100200300400-{id}.apps.googleusercontent.com"));
            r.google_client_secret = Some(format!("GOCSPX-{}", password()));
        }
        write_private(&path, &serde_json::to_string_pretty(&r)?)?;
        Ok(r)
    }

    /// About 95 random bits as 16 letters and digits (nothing a shell or a form trips on).
    fn password() -> String {
        random::token("")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect()
    }

    fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.write_all(text.as_bytes())?;
        Ok(())
    }

    /// Lakegate's configuration for the demo, written where the user can read it.
    fn lakegate_config(args: &DemoArgs, dir: &Path, second: &str) -> anyhow::Result<Config> {
        let host = format!("localhost:{}", args.emulator_port);
        let scheme = if args.emulator_tls { "https" } else { "http" };
        let tls = if args.emulator_tls {
            format!("extra_ca_file = {:?}\n", dir.join("emulator-ca.pem"))
        } else {
            format!("insecure_http_hosts = [\"{host}\", \"{second}\"]\n")
        };
        let text = format!(
            "# Written by `lakegate demo` on every start.\n\
             public_url = \"http://127.0.0.1:{port}\"\n\
             listen = \"127.0.0.1:{port}\"\n\
             data_dir = {dir:?}\n\
             \n[egress]\n\
             # The emulated workspaces run on loopback, which Lakegate refuses unless allowed.\n\
             extra_allowed_hosts = [\"{host}\", \"{second}\"]\n\
             allowed_cidrs = [\"127.0.0.0/8\", \"::1/128\"]\n\
             # The emulator also plays Google: BigQuery's fixed endpoints, moved here.\n\
             google_base_url = \"{scheme}://{host}\"\n{tls}",
            port = args.port,
            dir = dir,
        );
        let path = dir.join("lakegate.toml");
        std::fs::write(&path, text)?;
        // The demo's own settings only: LAKEGATE_* variables meant for a real deployment
        // must not leak into it.
        Ok(Config::load(Some(&path), &HashMap::new())?)
    }

    fn emulator_config(args: &DemoArgs, dir: &Path, r: &Remembered) -> EmulatorConfig {
        EmulatorConfig {
            listen: format!("127.0.0.1:{}", args.emulator_port),
            advertise_host: Some("localhost".into()),
            tls: args.emulator_tls,
            tls_ca_out: args
                .emulator_tls
                .then(|| dir.join("emulator-ca.pem").display().to_string()),
            control: true,
            apps: vec![AppConfig {
                name: "Lakegate demo".into(),
                client_id: r.client_id.clone(),
                client_secret: Some(r.client_secret.clone()),
                redirect_urls: vec![format!(
                    "http://127.0.0.1:{}/connections/oauth/databricks/callback",
                    args.port
                )],
                scopes: vec!["all-apis".into(), "offline_access".into()],
                token_access_policy: TokenPolicy::default(),
            }],
            // The same emulator is also a Snowflake account, with Lakegate registered.
            snowflake_integrations: vec![warehouse_emulator::SnowflakeIntegrationConfig {
                name: "LAKEGATE".into(),
                client_id: r.snowflake().0.to_owned(),
                client_secret: r.snowflake().1.to_owned(),
                redirect_uri: format!(
                    "http://127.0.0.1:{}/connections/oauth/snowflake/callback",
                    args.port
                ),
                refresh_token_validity_seconds: 7_776_000,
                single_use_refresh_tokens: false,
                pre_authorized_roles: vec![],
                blocked_roles: vec![],
            }],
            // And Google, with Lakegate's OAuth client (a Web application).
            google_clients: vec![warehouse_emulator::GoogleClientConfig {
                client_id: r.google().0.to_owned(),
                client_secret: r.google().1.to_owned(),
                redirect_uris: vec![format!(
                    "http://127.0.0.1:{}/connections/oauth/bigquery/callback",
                    args.port
                )],
                testing: false,
            }],
            // A stopped warehouse takes a while to start, as a real one does: queries wait
            // (PENDING) meanwhile and can be cancelled.
            warehouses: vec![WarehouseConfig {
                id: "abcdef1234567890".into(),
                name: "Starter Warehouse".into(),
                state: "RUNNING".into(),
                start_seconds: 20,
            }],
            ..EmulatorConfig::default()
        }
    }

    fn account_service(store: &Store) -> crate::accounts::service::AccountService {
        crate::accounts::service::AccountService::new(
            store.clone(),
            std::sync::Arc::new(SystemClock),
        )
    }

    async fn ensure_user(
        store: &Store,
        org: &Org,
        email: &str,
        role: Role,
        password: &str,
    ) -> anyhow::Result<()> {
        if store.user_by_email(&org.id, email).await?.is_some() {
            return Ok(());
        }
        let input = NewUserInput {
            email: email.into(),
            display_name: None,
            role,
            password: Some(Secret::new(password)),
            external_id: None,
        };
        account_service(store)
            .create_user(&Actor::cli(Some(org.id.clone())), org, input)
            .await?;
        Ok(())
    }

    async fn accounts(store: &Store, r: &Remembered) -> anyhow::Result<Org> {
        let org = match account_service(store).org_by_slug("demo").await {
            Ok(org) => org,
            Err(_) => {
                account_service(store)
                    .create_org(&Actor::cli(None), "demo", "Demo")
                    .await?
            }
        };
        ensure_user(
            store,
            &org,
            "admin@example.com",
            Role::Admin,
            &r.admin_password,
        )
        .await?;
        ensure_user(
            store,
            &org,
            "analyst@example.com",
            Role::Editor,
            &r.analyst_password,
        )
        .await?;
        ensure_user(
            store,
            &org,
            "viewer@example.com",
            Role::Viewer,
            &r.viewer_password,
        )
        .await?;
        Ok(org)
    }

    pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
        check_port(args.port, "Lakegate", "--port")?;
        check_port(args.emulator_port, "the emulator", "--emulator-port")?;
        prepare(&args.data_dir, args.fresh)?;
        let dir = std::path::absolute(&args.data_dir)?;
        let remembered = remember(&dir)?;
        let emulator = Emulator::start(emulator_config(&args, &dir, &remembered))
            .await
            .context("the Databricks emulator could not start")?;
        let extras = super::extras::Extras::start(&emulator, &dir, args.emulator_tls).await?;
        let config = lakegate_config(&args, &dir, &extras.second_host)?;
        crate::telemetry::init(config.log_format, &config.log_level);

        let store = crate::cli::ready_store(&config).await?;
        let org = accounts(&store, &remembered).await?;
        let host = if args.emulator_tls {
            emulator.host()
        } else {
            format!("http://{}", emulator.host())
        };
        if args.preconfigured {
            let keyring = crate::cli::load_keyring(&config)?;
            let egress = crate::cli::build_egress(&config)?;
            let service = crate::integrations::IntegrationService::new(
                store.clone(),
                std::sync::Arc::new(keyring),
                egress,
                std::sync::Arc::new(SystemClock),
                config.public_url.clone(),
            );
            let input = crate::integrations::SaveInput {
                host: host.clone(),
                client_id: remembered.client_id.clone(),
                client_secret: Some(Secret::new(remembered.client_secret.clone())),
                scopes: None,
                lifetimes: None,
                default_compute: None,
            };
            let actor = Actor::cli(Some(org.id.clone()));
            service
                .save(&crate::providers::databricks::U2M, &actor, &org.id, input)
                .await
                .context("configuring the Databricks integration failed")?;
            let (id, secret) = remembered.snowflake();
            let input = crate::integrations::SaveInput {
                host: host.clone(),
                client_id: id.to_owned(),
                client_secret: Some(Secret::new(secret)),
                scopes: None,
                lifetimes: None,
                default_compute: None,
            };
            service
                .save(&crate::providers::snowflake::OAUTH, &actor, &org.id, input)
                .await
                .context("configuring the Snowflake integration failed")?;
            let (id, secret) = remembered.google();
            let input = crate::integrations::SaveInput {
                host: String::new(),
                client_id: id.to_owned(),
                client_secret: Some(Secret::new(secret)),
                scopes: None,
                lifetimes: None,
                default_compute: Some("lakegate-samples".into()),
            };
            service
                .save(&crate::providers::bigquery::OAUTH, &actor, &org.id, input)
                .await
                .context("configuring the BigQuery integration failed")?;
        }
        store.close().await;
        extras.print_banner();
        print_banner(&args, &dir, &remembered, &host);
        let served = crate::cli::serve_until(config, crate::cli::shutdown_signal()).await;
        extras.stop().await;
        emulator.stop().await;
        served
    }

    fn print_banner(args: &DemoArgs, dir: &Path, r: &Remembered, host: &str) {
        let url = format!("http://127.0.0.1:{}", args.port);
        let configured = if args.preconfigured {
            "  All three integrations are already configured (--preconfigured): go to Connections.\n"
                .to_owned()
        } else {
            let (sf_id, sf_secret) = r.snowflake();
            let (g_id, g_secret) = r.google();
            format!(
                "  As the admin, open Settings › Advanced › Integrations › Add on\n  \"OAuth U2M connections to Databricks\" and paste:\n\n\
                 \x20   Client ID      {}\n\
                 \x20   Client Secret  {}\n\
                 \x20   Host           {host}\n\n\
                 \x20 and on \"OAuth connections to Snowflake\" (the emulator is also an account):\n\n\
                 \x20   Account              {host}\n\
                 \x20   Snowflake Client ID  {sf_id}\n\
                 \x20   Snowflake Secret     {sf_secret}\n\n\
                 \x20 and on \"OAuth connections to BigQuery\" (the emulator also plays Google):\n\n\
                 \x20   Google Client ID      {g_id}\n\
                 \x20   Google Client Secret  {g_secret}\n",
                r.client_id, r.client_secret
            )
        };
        println!(
            "\n  Lakegate demo: open {url}  (organization: demo)\n\n\
             \x20   admin@example.com     {}   (admin)\n\
             \x20   analyst@example.com   {}   (analyst)\n\
             \x20   viewer@example.com    {}   (viewer)\n\n\
             {configured}\n\
             \x20 Databricks, Snowflake and Google (emulated) at {host}: sign in there as\n\
             \x20 alice@example.com / alice or bob@example.com / bob.\n\n\
             \x20 Data, keys and these secrets: {} (run with --fresh to start over).\n\
             \x20 Ctrl+C stops Lakegate and the emulator.\n",
            r.admin_password,
            r.analyst_password,
            r.viewer_password,
            dir.display()
        );
    }
}
