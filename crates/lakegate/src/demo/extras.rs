//! What the demo adds for shared identities and several workspaces: a second workspace of
//! the emulated account (the app connection serves it too), a service principal with an
//! OAuth secret for OAuth M2M connections, and a personal access token of Alice's — all
//! in the emulator's memory, made anew on every start.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use warehouse_emulator::EmulatorHandle;

pub struct Extras {
    second: EmulatorHandle,
    /// The second workspace's host, as an admin adds it.
    pub second_host: String,
    principal_id: String,
    principal_secret: String,
    pat: String,
}

impl Extras {
    /// Starts the second workspace (its CA appended to the demo's CA file, which Lakegate
    /// trusts) and creates the principal and the token.
    pub async fn start(first: &EmulatorHandle, dir: &Path, tls: bool) -> anyhow::Result<Extras> {
        let second = first
            .start_sibling()
            .await
            .context("the second emulated workspace could not start")?;
        if let (true, Some(pem)) = (tls, &second.ca_pem) {
            let mut bundle = std::fs::OpenOptions::new()
                .append(true)
                .open(dir.join("emulator-ca.pem"))
                .context("cannot add the second workspace's CA to emulator-ca.pem")?;
            bundle.write_all(pem.as_bytes())?;
        }
        let (principal_id, principal_secret) = first.create_service_principal("nightly-reports");
        let (pat, _) = first.create_pat("alice@example.com", None);
        Ok(Extras {
            second_host: second.host(),
            second,
            principal_id,
            principal_secret,
            pat,
        })
    }

    pub fn print_banner(&self) {
        println!(
            "\n  Shared identities (Connections › New connection › Databricks › OAuth M2M, or\n  \
             › Personal access token), on the first workspace:\n\n\
             \x20   Service principal ID      {}\n\
             \x20   Service principal secret  {}\n\
             \x20   Personal access token     {}   (Alice's)\n\n\
             \x20 A second workspace of the same account, which the admin can add to the\n\
             \x20 Databricks integration (Other workspaces of this account):\n\n\
             \x20   Second workspace          {}",
            self.principal_id, self.principal_secret, self.pat, self.second_host
        );
    }

    pub async fn stop(self) {
        self.second.stop().await;
    }
}
