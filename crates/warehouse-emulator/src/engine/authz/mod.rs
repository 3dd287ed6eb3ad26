//! The authorization server's state and rules: apps, authorization codes, refresh-token
//! families with rotation and reuse detection, access tokens. Pure logic on an injected
//! `now`; each front-end's HTTP handlers only translate.

mod client_credentials;
mod records;

pub use records::*;

use std::collections::HashMap;

use serde_json::json;

use crate::config::TokenPolicy;
use crate::engine::jwt::Signer;

#[derive(Default)]
pub struct OAuthState {
    pub apps: HashMap<String, App>,
    codes: HashMap<String, CodeGrant>,
    refresh: HashMap<String, RefreshRecord>,
    families: HashMap<String, Family>,
    access: HashMap<String, AccessRecord>,
    pub counters: Counters,
}

impl OAuthState {
    pub fn add_app(&mut self, app: App) {
        self.apps.insert(app.client_id.clone(), app);
    }

    /// A token request arrived (how many are in flight, and the most at once).
    pub fn token_call_started(&mut self) {
        let c = &mut self.counters;
        c.token_in_flight += 1;
        c.token_in_flight_peak = c.token_in_flight_peak.max(c.token_in_flight);
    }

    /// Counts a token request that got past fault injection, by grant type.
    pub fn count_grant(&mut self, grant_type: &str) {
        let c = &mut self.counters;
        match grant_type {
            "authorization_code" => c.token_calls_authorization_code += 1,
            "refresh_token" => c.token_calls_refresh_token += 1,
            _ => c.token_calls_other += 1,
        }
    }

    pub fn token_call_ended(&mut self) {
        self.counters.token_in_flight -= 1;
    }

    /// Authenticates a client: confidential apps must present their secret.
    pub fn authenticate_client(
        &self,
        client_id: &str,
        secret: Option<&str>,
    ) -> Result<&App, TokenError> {
        let app = self.apps.get(client_id).ok_or(TokenError::InvalidClient)?;
        match (&app.client_secret, secret) {
            (None, _) => Ok(app),
            (Some(expected), Some(given)) if expected == given => Ok(app),
            _ => Err(TokenError::InvalidClient),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn issue_code(
        &mut self,
        client_id: &str,
        redirect_uri: &str,
        user: &str,
        scopes: Vec<String>,
        challenge: &str,
        now: i64,
        ttl: i64,
    ) -> String {
        let code = random_token("dcod");
        let offline = self
            .apps
            .get(client_id)
            .and_then(|a| a.flavor.offline_scope())
            .is_some_and(|o| scopes.iter().any(|s| s == o));
        self.codes.insert(
            code.clone(),
            CodeGrant {
                client_id: client_id.into(),
                redirect_uri: redirect_uri.into(),
                user: user.into(),
                scopes,
                challenge: challenge.into(),
                expires_at: now + ttl,
                redeemed_family: None,
                used: false,
                offline,
            },
        );
        self.counters.codes_issued += 1;
        code
    }

    /// Says whether a code gives a refresh token (Google decides by `access_type` and
    /// `prompt`, not by a scope).
    pub fn set_offline(&mut self, code: &str, offline: bool) {
        if let Some(g) = self.codes.get_mut(code) {
            g.offline = offline;
        }
    }

    /// The authorization_code grant.
    #[allow(clippy::too_many_arguments)]
    pub fn redeem_code(
        &mut self,
        app: &App,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        now: i64,
        signer: &Signer,
        issuer: &str,
        user: impl Fn(&str) -> Option<(String, String)>,
    ) -> Result<TokenSet, TokenError> {
        let grant = self
            .codes
            .get_mut(code)
            .ok_or_else(|| TokenError::InvalidGrant("Authorization code is invalid".into()))?;
        if grant.used {
            // RFC 6749 §4.1.2: a replayed code revokes what it produced.
            let family = grant.redeemed_family.clone();
            if let Some(f) = family {
                self.revoke_family(&f);
            }
            return Err(TokenError::InvalidGrant(
                "Authorization code has already been used".into(),
            ));
        }
        if grant.client_id != app.client_id {
            return Err(TokenError::InvalidGrant(
                "Authorization code was issued to another client".into(),
            ));
        }
        if now >= grant.expires_at {
            return Err(TokenError::InvalidGrant(
                "Authorization code has expired".into(),
            ));
        }
        // The code is spent by any redemption that gets this far, failed or not: the
        // strictest reading (a wrong verifier or redirect may be an attacker's guess), so a
        // client cannot retry with other values.
        grant.used = true;
        match redirect_uri {
            Some(r) if r == grant.redirect_uri => {}
            Some(_) => {
                return Err(TokenError::InvalidGrant(
                    "redirect_uri does not match the authorization request".into(),
                ));
            }
            None => return Err(TokenError::InvalidRequest("Missing redirect_uri".into())),
        }
        let verifier =
            verifier.ok_or_else(|| TokenError::InvalidRequest("Missing code_verifier".into()))?;
        if !(43..=128).contains(&verifier.len()) || s256(verifier) != grant.challenge {
            return Err(TokenError::InvalidGrant("PKCE verification failed".into()));
        }
        let grant = grant.clone();
        let policy = &app.token_access_policy;
        let family_id = random_id(12);
        let offline = grant.offline;
        let seq = self.families.len() as u64;
        self.families.insert(
            family_id.clone(),
            Family {
                seq,
                client_id: app.client_id.clone(),
                user: grant.user.clone(),
                scopes: grant.scopes.clone(),
                absolute_expiry: policy
                    .absolute_session_lifetime_in_minutes
                    .map(|m| now + m * 60),
                revoked: false,
            },
        );
        if let Some(g) = self.codes.get_mut(code) {
            g.redeemed_family = Some(family_id.clone());
        }
        self.counters.codes_redeemed += 1;
        let refresh_token =
            offline.then(|| self.new_refresh(&family_id, &app.client_id, policy, now));
        let (scim_id, display) = user(&grant.user).unwrap_or_default();
        let facts = UserFacts {
            email: &grant.user,
            scim_id: &scim_id,
            display_name: &display,
        };
        self.token_set(
            app,
            &facts,
            &grant.scopes,
            Some(family_id),
            refresh_token,
            now,
            signer,
            issuer,
        )
    }

    fn new_refresh(
        &mut self,
        family: &str,
        client_id: &str,
        policy: &TokenPolicy,
        now: i64,
    ) -> String {
        let rt = random_token("doau");
        let mut expires_at = now + policy.refresh_token_ttl_in_minutes * 60;
        if let Some(abs) = self.families.get(family).and_then(|f| f.absolute_expiry) {
            expires_at = expires_at.min(abs);
        }
        self.refresh.insert(
            rt.clone(),
            RefreshRecord {
                family: family.into(),
                client_id: client_id.into(),
                expires_at,
                state: RtState::Active,
            },
        );
        rt
    }

    #[allow(clippy::too_many_arguments)]
    fn token_set(
        &mut self,
        app: &App,
        user: &UserFacts<'_>,
        scopes: &[String],
        family: Option<String>,
        refresh_token: Option<String>,
        now: i64,
        signer: &Signer,
        issuer: &str,
    ) -> Result<TokenSet, TokenError> {
        let ttl = app.token_access_policy.access_token_ttl_in_minutes * 60;
        let scope = scopes.join(" ");
        let claims = json!({
            "iss": issuer, "sub": user.scim_id, "aud": app.client_id, "client_id": app.client_id,
            "iat": now, "exp": now + ttl, "jti": random_id(16), "scope": scope,
        });
        let access_token = match app.flavor {
            Flavor::Databricks => signer
                .sign(&claims)
                .map_err(|_| TokenError::InvalidRequest("signing failed".into()))?,
            // Opaque, as Snowflake's and Google's are: clients must not decode them.
            Flavor::Snowflake => random_token("ver:1-hint:"),
            Flavor::Google => random_token("ya29."),
        };
        self.access.insert(
            access_token.clone(),
            AccessRecord {
                user: user.email.into(),
                scopes: scopes.to_vec(),
                client_id: app.client_id.clone(),
                expires_at: now + ttl,
                family,
            },
        );
        let id_token = if app.flavor == Flavor::Databricks && scopes.iter().any(|s| s == "openid") {
            let claims = json!({
                "iss": issuer, "sub": user.scim_id, "aud": app.client_id, "iat": now, "exp": now + ttl,
                "email": user.email, "preferred_username": user.email, "name": user.display_name,
            });
            Some(
                signer
                    .sign(&claims)
                    .map_err(|_| TokenError::InvalidRequest("signing failed".into()))?,
            )
        } else {
            None
        };
        Ok(TokenSet {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            scope,
            refresh_token,
            id_token,
        })
    }

    /// The refresh_token grant, with rotation and reuse detection when the app asks for it.
    #[allow(clippy::too_many_arguments)]
    pub fn refresh(
        &mut self,
        app: &App,
        presented: &str,
        scope: Option<&str>,
        now: i64,
        signer: &Signer,
        issuer: &str,
        user: impl Fn(&str) -> Option<(String, String)>,
    ) -> Result<TokenSet, TokenError> {
        self.counters.refresh_tokens_presented += 1;
        let record = self
            .refresh
            .get(presented)
            .cloned()
            .ok_or(TokenError::DeadRefreshToken)?;
        if record.client_id != app.client_id {
            return Err(TokenError::DeadRefreshToken);
        }
        let family = self
            .families
            .get(&record.family)
            .cloned()
            .ok_or(TokenError::DeadRefreshToken)?;
        if family.revoked
            || now >= record.expires_at
            || family.absolute_expiry.is_some_and(|a| now >= a)
        {
            return Err(TokenError::DeadRefreshToken);
        }
        // RFC 6749 §6: a refresh may narrow the grant, never widen it.
        let scopes = match scope {
            None => family.scopes.clone(),
            Some(asked) => {
                self.counters.refresh_requests_with_scope += 1;
                let asked: Vec<String> = asked.split_whitespace().map(str::to_owned).collect();
                if asked.is_empty() || asked.iter().any(|s| !family.scopes.contains(s)) {
                    return Err(TokenError::InvalidScope);
                }
                asked
            }
        };
        let policy = &app.token_access_policy;
        let refresh_token = match &record.state {
            RtState::Revoked => return Err(TokenError::DeadRefreshToken),
            RtState::Rotated { at, successor } => {
                if now - at < policy.reuse_grace_seconds {
                    successor.clone()
                } else {
                    self.counters.reuse_detections += 1;
                    self.revoke_family(&record.family);
                    return Err(TokenError::DeadRefreshToken);
                }
            }
            RtState::Active if policy.enable_single_use_refresh_tokens => {
                let next = self.new_refresh(&record.family, &app.client_id, policy, now);
                if let Some(r) = self.refresh.get_mut(presented) {
                    r.state = RtState::Rotated {
                        at: now,
                        successor: next.clone(),
                    };
                }
                self.counters.refresh_rotations += 1;
                next
            }
            RtState::Active => presented.to_owned(),
        };
        let (scim_id, display) = user(&family.user).unwrap_or_default();
        let facts = UserFacts {
            email: &family.user,
            scim_id: &scim_id,
            display_name: &display,
        };
        self.token_set(
            app,
            &facts,
            &scopes,
            Some(record.family.clone()),
            Some(refresh_token),
            now,
            signer,
            issuer,
        )
    }

    fn revoke_family(&mut self, family: &str) {
        if let Some(f) = self.families.get_mut(family) {
            f.revoked = true;
        }
        for r in self.refresh.values_mut().filter(|r| r.family == family) {
            r.state = RtState::Revoked;
        }
        self.access
            .retain(|_, a| a.family.as_deref() != Some(family));
    }

    /// Revokes every token of a user (control API).
    pub fn revoke_user(&mut self, email: &str) -> usize {
        let families: Vec<String> = self
            .families
            .iter()
            .filter(|(_, f)| f.user == email)
            .map(|(id, _)| id.clone())
            .collect();
        for f in &families {
            self.revoke_family(f);
        }
        self.access.retain(|_, a| a.user != email);
        families.len()
    }

    /// Revokes what an access or refresh token belongs to, as Google's revoke endpoint does.
    /// Whether Google ends only that sign-in's tokens or the app's access to the account as
    /// a whole is not documented: the strictest reading is emulated — every grant of that
    /// user to that client ends. False when the token is unknown or dead.
    pub fn revoke_token(&mut self, token: &str) -> bool {
        let family = match (self.access.get(token), self.refresh.get(token)) {
            (Some(a), _) => a.family.clone(),
            (None, Some(r)) if r.state != RtState::Revoked => Some(r.family.clone()),
            _ => None,
        };
        let Some(owner) = family
            .and_then(|f| self.families.get(&f))
            .map(|f| (f.client_id.clone(), f.user.clone()))
        else {
            return false;
        };
        let all: Vec<String> = self
            .families
            .iter()
            .filter(|(_, f)| {
                (f.client_id.as_str(), f.user.as_str()) == (owner.0.as_str(), owner.1.as_str())
            })
            .map(|(id, _)| id.clone())
            .collect();
        for f in &all {
            self.revoke_family(f);
        }
        self.access.remove(token);
        true
    }

    /// Keeps at most `max` live grants of `user` for `client_id`, silently revoking the
    /// oldest (Google's 100 refresh tokens per account and client).
    pub fn cap_grants(&mut self, client_id: &str, user: &str, max: usize) {
        let mut live: Vec<(u64, String)> = self
            .families
            .iter()
            .filter(|(_, f)| !f.revoked && f.client_id == client_id && f.user == user)
            .filter(|(id, _)| self.refresh.values().any(|r| &r.family == *id))
            .map(|(id, f)| (f.seq, id.clone()))
            .collect();
        live.sort();
        let over = live.len().saturating_sub(max);
        for (_, id) in live.into_iter().take(over) {
            self.revoke_family(&id);
        }
    }

    /// The user a refresh token was issued to, if it is known.
    pub fn refresh_owner(&self, rt: &str) -> Option<String> {
        let r = self.refresh.get(rt)?;
        self.families.get(&r.family).map(|f| f.user.clone())
    }

    /// Kills one refresh token (control API: "a dead refresh token").
    pub fn kill_refresh_token(&mut self, rt: &str) -> bool {
        match self.refresh.get_mut(rt) {
            Some(r) => {
                r.state = RtState::Revoked;
                true
            }
            None => false,
        }
    }

    /// Revokes every token of an app (deleting an app connection).
    pub fn forget_app(&mut self, client_id: &str) {
        let families: Vec<String> = self
            .families
            .iter()
            .filter(|(_, f)| f.client_id == client_id)
            .map(|(id, _)| id.clone())
            .collect();
        for f in &families {
            self.revoke_family(f);
        }
        self.access.retain(|_, a| a.client_id != client_id);
        self.apps.remove(client_id);
    }

    /// Resolves a bearer token, valid until its expiry.
    pub fn bearer(&self, token: &str, now: i64) -> Result<AccessRecord, AccessError> {
        let rec = self.access.get(token).ok_or(AccessError::Invalid)?;
        if now >= rec.expires_at {
            return Err(AccessError::Expired);
        }
        Ok(rec.clone())
    }

    /// Resolves a REST call's bearer token. Databricks refuses tokens within 30 s of expiry.
    pub fn access(&self, token: &str, now: i64) -> Result<AccessRecord, AccessError> {
        let rec = self.bearer(token, now)?;
        if now >= rec.expires_at - 30 {
            return Err(AccessError::ExpiringSoon);
        }
        Ok(rec)
    }
}
