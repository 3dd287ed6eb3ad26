//! Settings › Connection health (admins): credentials by status (the numbers `/metrics`
//! reports), refresh outcomes over the last 24 hours and 7 days as server-rendered SVG
//! charts (from every replica, through the store), upcoming re-consents, and integrations
//! that need an administrator. Webhook failures join it with webhooks (issue 19).

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Nav, error_page, render};
use crate::auth::{Access, Principal};
use crate::clock::rfc3339;
use crate::credentials::deadlines;
use crate::health::{BAR_WIDTH, CHART_HEIGHT, Series, chart_width, series};
use crate::http::error::ApiError;
use crate::http::guard::Auth;
use crate::http::routes::{Kind, M, Registry};
use crate::http::state::AppState;
use crate::providers;
use crate::store::{IntegrationRow, IntegrationStatus};

/// Re-consents due within this many days are listed.
const UPCOMING_DAYS: i64 = 7;
/// Credentials looked at for upcoming re-consents.
const MOST_CREDENTIALS: i64 = 5_000;

pub fn register(reg: &mut Registry) {
    reg.add(
        M::Get,
        "/settings/health",
        Kind::Page,
        Access::Admin,
        "Connection health",
        page,
    );
}

struct Upcoming {
    who: String,
    connection_id: String,
    connection: String,
    when: String,
}

#[derive(Template)]
#[template(path = "health.html")]
struct HealthPage {
    nav: Option<Nav>,
    statuses: Vec<(String, i64)>,
    day: Vec<Series>,
    week: Vec<Series>,
    day_width: u32,
    week_width: u32,
    bar_width: u32,
    chart_height: u32,
    upcoming: Vec<Upcoming>,
    flagged: Vec<(String, String, String)>,
}

async fn page(State(state): State<AppState>, Auth(p): Auth) -> Response {
    match build(&state, &p).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => error_page(e),
    }
}

async fn build(state: &AppState, p: &Principal) -> Result<HealthPage, ApiError> {
    let now = state.now();
    let store = &state.store;
    let statuses = store
        .org_credential_status_counts(&p.org.id)
        .await?
        .into_iter()
        .map(|c| (c.status.as_str().to_owned(), c.count))
        .collect();
    let counts = store
        .refresh_outcomes_since(&p.org.id, now - 7 * 86_400)
        .await?;
    let day = series(&counts, now, 3600, 24, |h| {
        format!("{} hour", &rfc3339(h)[..13])
    });
    let week = series(&counts, now, 86_400, 7, |d| rfc3339(d)[..10].to_owned());
    let mut flagged = vec![];
    let mut integrations: HashMap<String, IntegrationRow> = HashMap::new();
    for provider in providers::ALL {
        let Some(row) = state
            .services
            .integrations
            .get(*provider, &p.org.id)
            .await?
        else {
            continue;
        };
        let info = provider.info();
        let href = format!("/settings/advanced/integrations/{}", info.kind);
        if row.status == IntegrationStatus::ClientRejected {
            let why = format!("{} rejects the client secret: update it", info.vendor);
            flagged.push((info.title.to_owned(), why, href.clone()));
        }
        if let Some(w) = &row.setup_warning {
            flagged.push((info.title.to_owned(), w.clone(), href));
        }
        integrations.insert(row.id.clone(), row);
    }
    let failed = state.store.failed_webhook_deliveries(&p.org.id).await?;
    if failed > 0 {
        let why = format!(
            "{failed} webhook deliver{} failed after every retry: replay once the receiver works",
            if failed == 1 { "y" } else { "ies" }
        );
        flagged.push(("Webhooks".into(), why, "/settings/advanced/webhooks".into()));
    }
    Ok(HealthPage {
        nav: Nav::of(p),
        statuses,
        day_width: chart_width(24),
        week_width: chart_width(7),
        day,
        week,
        bar_width: BAR_WIDTH,
        chart_height: CHART_HEIGHT,
        upcoming: upcoming(state, p, &integrations, now).await?,
        flagged,
    })
}

/// Sign-ins that must be renewed within the coming days, soonest first.
async fn upcoming(
    state: &AppState,
    p: &Principal,
    integrations: &HashMap<String, IntegrationRow>,
    now: i64,
) -> Result<Vec<Upcoming>, ApiError> {
    let store = &state.store;
    let users: HashMap<String, String> = store
        .list_users(&p.org.id)
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    let connections: HashMap<String, String> = store
        .org_connections(&p.org.id)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let mut due = vec![];
    for cred in store
        .org_active_credentials(&p.org.id, MOST_CREDENTIALS)
        .await?
    {
        let Some(integration) = integrations.get(&cred.integration_id) else {
            continue;
        };
        let Some(provider) = providers::by_kind(&integration.kind) else {
            continue;
        };
        let by = deadlines(&cred, integration, provider.info().dialect.refresh_lifetime)
            .sign_in_needed_by;
        if by <= now + UPCOMING_DAYS * 86_400 {
            due.push((by, cred));
        }
    }
    due.sort_by_key(|(by, _)| *by);
    Ok(due
        .into_iter()
        .map(|(by, c)| Upcoming {
            who: users.get(&c.user_id).cloned().unwrap_or(c.user_id),
            connection: connections
                .get(&c.connection_id)
                .cloned()
                .unwrap_or_default(),
            connection_id: c.connection_id,
            when: rfc3339(by),
        })
        .collect())
}
