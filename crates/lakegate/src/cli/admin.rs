//! The administrative commands: organizations, users, API tokens, integrations.

use std::io::Read;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};

use super::{
    IntegrationCommand, OrgCommand, ServiceKeyCommand, TokenCommand, UserCommand, UserRef,
    build_egress, load_keyring, ready_store,
};
use crate::accounts::service::{AccountService, NewUserInput, UserPatch};
use crate::audit::Actor;
use crate::auth::api_token::{ApiTokenService, NewToken};
use crate::auth::scope;
use crate::auth::service_key::{NewKey, ServiceKeyService};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::crypto::envelope::Keyring;
use crate::egress::Egress;
use crate::integrations::{IntegrationService, SaveInput};
use crate::providers::redirect_url;
use crate::secret::Secret;
use crate::store::Store;

fn accounts(store: &Store) -> AccountService {
    AccountService::new(store.clone(), Arc::new(SystemClock))
}

fn integrations(
    store: &Store,
    keyring: Keyring,
    egress: Egress,
    config: &Config,
) -> IntegrationService {
    IntegrationService::new(
        store.clone(),
        Arc::new(keyring),
        egress,
        Arc::new(SystemClock),
        config.public_url.clone(),
    )
}

pub(super) async fn org(config: &Config, cmd: OrgCommand) -> anyhow::Result<()> {
    let store = ready_store(config).await?;
    match cmd {
        OrgCommand::Create { slug, name } => {
            let org = accounts(&store)
                .create_org(&Actor::cli(None), &slug, &name)
                .await?;
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

pub(super) async fn user(config: &Config, cmd: UserCommand) -> anyhow::Result<()> {
    let store = ready_store(config).await?;
    match cmd {
        UserCommand::Create {
            who,
            role,
            password_file,
            display_name,
        } => {
            let org = accounts(&store).org_by_slug(&who.org).await?;
            let password = read_secret(&password_file)?;
            let input = NewUserInput {
                email: who.email,
                display_name,
                role,
                password: Some(password),
                external_id: None,
            };
            let user = accounts(&store)
                .create_user(&Actor::cli(Some(org.id.clone())), &org, input)
                .await?;
            println!(
                "created user {} ({}) with role {}",
                user.email, user.id, user.role
            );
        }
        UserCommand::List { org } => {
            let org = accounts(&store).org_by_slug(&org).await?;
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
            accounts(&store)
                .update_user(&Actor::cli(Some(org.clone())), &org, &u, patch)
                .await?;
            println!("{} is now {}", who.email, role);
        }
        UserCommand::Disable { who } => {
            let (org, u) = find_user(&store, &who).await?;
            let patch = UserPatch {
                disabled: Some(true),
                ..Default::default()
            };
            accounts(&store)
                .update_user(&Actor::cli(Some(org.clone())), &org, &u, patch)
                .await?;
            println!("{} is disabled", who.email);
        }
    }
    Ok(())
}

async fn find_user(store: &Store, who: &UserRef) -> anyhow::Result<(String, String)> {
    let org = accounts(store).org_by_slug(&who.org).await?;
    let email = crate::accounts::Email::parse(&who.email).map_err(|e| anyhow!(e))?;
    let user = store
        .user_by_email(&org.id, email.as_str())
        .await?
        .ok_or_else(|| anyhow!("no user {} in organization {}", who.email, who.org))?;
    Ok((org.id, user.id))
}

pub(super) async fn token(config: &Config, cmd: TokenCommand) -> anyhow::Result<()> {
    let store = ready_store(config).await?;
    let TokenCommand::Create {
        who,
        name,
        scopes,
        expires_days,
    } = cmd;
    let scopes = scope::parse_list(&scopes).map_err(|e| anyhow!(e))?;
    let (org_id, user_id) = find_user(&store, &who).await?;
    let user = store
        .user_in_org(&org_id, &user_id)
        .await?
        .ok_or_else(|| anyhow!("no user {} in organization {}", who.email, who.org))?;
    let req = NewToken {
        name: &name,
        scopes,
        ttl_days: Some(expires_days),
    };
    let (secret, _) = ApiTokenService::new(store.clone(), Arc::new(SystemClock))
        .create(&Actor::cli(Some(org_id)), &user, req)
        .await?;
    println!("{}", secret.expose());
    Ok(())
}

pub(super) async fn service_key(config: &Config, cmd: ServiceKeyCommand) -> anyhow::Result<()> {
    let store = ready_store(config).await?;
    let ServiceKeyCommand::Create {
        org,
        name,
        scopes,
        expires_days,
    } = cmd;
    let scopes = scope::parse_list(&scopes).map_err(|e| anyhow!(e))?;
    let org = accounts(&store).org_by_slug(&org).await?;
    let req = NewKey {
        name: &name,
        scopes,
        ttl_days: Some(expires_days),
    };
    let (secret, _) = ServiceKeyService::new(store.clone(), Arc::new(SystemClock))
        .create(&Actor::cli(Some(org.id.clone())), &org, req)
        .await?;
    println!("{}", secret.expose());
    Ok(())
}

pub(super) async fn integration(config: &Config, cmd: IntegrationCommand) -> anyhow::Result<()> {
    let store = ready_store(config).await?;
    match cmd {
        IntegrationCommand::Set {
            kind,
            org,
            host,
            client_id,
            client_secret_file,
            scopes,
        } => {
            let org = accounts(&store).org_by_slug(&org).await?;
            let keyring = load_keyring(config)?;
            let egress = build_egress(config)?;
            let client_secret = client_secret_file.as_deref().map(read_secret).transpose()?;
            let host = match (kind.0.info().hosts, host) {
                (crate::providers::HostPolicy::AdminTyped, None) => {
                    return Err(anyhow!("--host is required for {}", kind.0.info().kind));
                }
                (_, host) => host.unwrap_or_default(),
            };
            let input = SaveInput {
                host,
                client_id,
                client_secret,
                scopes,
                lifetimes: None,
                default_compute: None,
            };
            let row = integrations(&store, keyring, egress, config)
                .save(kind.0, &Actor::cli(Some(org.id.clone())), &org.id, input)
                .await?;
            println!(
                "saved: {} on {} (scopes: {})",
                row.client_id, row.host, row.scopes
            );
        }
        IntegrationCommand::Show { kind, org } => {
            let org = accounts(&store).org_by_slug(&org).await?;
            let info = kind.0.info();
            let Some(row) = store.integration(&org.id, info.kind).await? else {
                bail!(
                    "the {} integration is not configured for {}",
                    info.kind,
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
                println!("redirect_url\t{}", redirect_url(url, info));
            }
        }
        IntegrationCommand::Delete { kind, org } => {
            let org = accounts(&store).org_by_slug(&org).await?;
            let keyring = load_keyring(config)?;
            let egress = build_egress(config)?;
            integrations(&store, keyring, egress, config)
                .delete(kind.0, &Actor::cli(Some(org.id.clone())), &org.id)
                .await?;
            println!(
                "deleted the {} integration of {}",
                kind.0.info().kind,
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
