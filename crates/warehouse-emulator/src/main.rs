use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use warehouse_emulator::{Emulator, EmulatorConfig};

/// A local Databricks workspace (OAuth U2M, SCIM, warehouses, Unity Catalog, SQL statements).
#[derive(Debug, Parser)]
#[command(name = "warehouse-emulator", version)]
struct Args {
    /// Address to listen on.
    #[arg(long)]
    listen: Option<String>,
    /// Base of the issuer and of every URL the emulator emits, e.g. http://localhost:8081.
    #[arg(long)]
    public_url: Option<String>,
    /// Serve HTTPS with a generated certificate.
    #[arg(long)]
    tls: bool,
    /// Where to write the generated CA certificate (with --tls).
    #[arg(long, value_name = "FILE")]
    tls_ca_out: Option<String>,
    /// TOML configuration (see --print-default-config).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Guards the account API as `Authorization: Bearer <token>`; the token is read from
    /// this file (or the DATABRICKS_EMULATOR_ADMIN_TOKEN variable), never from argv.
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// Enable the control API under /emulator/control.
    #[arg(long)]
    control: bool,
    /// Print the built-in configuration as TOML and exit.
    #[arg(long)]
    print_default_config: bool,
}

fn load(args: &Args) -> anyhow::Result<EmulatorConfig> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{} is not valid: {}", path.display(), e.message()))?
        }
        None => EmulatorConfig::default(),
    };
    if let Some(l) = &args.listen {
        config.listen = l.clone();
    }
    if args.public_url.is_some() {
        config.public_url = args.public_url.clone();
    }
    config.tls |= args.tls;
    if args.tls_ca_out.is_some() {
        config.tls_ca_out = args.tls_ca_out.clone();
    }
    config.control |= args.control;
    if let Some(path) = &args.admin_token_file {
        let token = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        config.admin_token = Some(token.trim().to_owned());
    } else if let Some(token) = std::env::var("DATABRICKS_EMULATOR_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
    {
        config.admin_token = Some(token);
    }
    Ok(config)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.print_default_config {
        print!("{}", EmulatorConfig::default().to_toml());
        return ExitCode::SUCCESS;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = match load(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = match Emulator::start(config).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("Databricks emulator serving at {}", handle.base_url);
    let _ = tokio::signal::ctrl_c().await;
    handle.stop().await;
    ExitCode::SUCCESS
}
