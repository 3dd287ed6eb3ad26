//! `lakegate keys`: master key and data key rotation while Lakegate serves.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail};
use clap::Subcommand;

use super::{keyring, ready_store};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::crypto::envelope::kek_id_of;
use crate::crypto::master_key::create_key_file;
use crate::crypto::rotation::{self, Progress};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Write a new master key to FILE (mode 0600; an existing file is refused) and print
    /// its id. The key itself is never printed.
    New {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Re-wrap every org data key by the configured master key. First make the new key
    /// `master_key_file` and list the old one in `previous_master_key_files` on every
    /// replica (a rolling restart), then run this once; it is safe to run again.
    Rotate,
    /// Check that no data key still needs a previous master key, so its file can leave
    /// `previous_master_key_files`; exits non-zero naming the keys still needed.
    Retire,
    /// Give organizations a new data key and re-encrypt every stored secret with it, in
    /// batches, while Lakegate serves. Interrupted, a second run goes on where it stopped.
    RotateData {
        /// The organization's slug.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        org: Option<String>,
        /// Every organization.
        #[arg(long)]
        all: bool,
        /// Rows per batch.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        batch: i64,
    },
}

pub(super) async fn run(config: &Config, cmd: KeysCommand) -> anyhow::Result<()> {
    if let KeysCommand::New { out } = &cmd {
        let key = create_key_file(out)?;
        println!(
            "wrote master key {} to {} (mode 0600); the key is not printed",
            kek_id_of(&key),
            out.display()
        );
        println!(
            "next: on every replica make it master_key_file, list the current key file in previous_master_key_files, restart one by one, then run `lakegate keys rotate`"
        );
        return Ok(());
    }
    let store = ready_store(config).await?;
    let keyring = keyring(config, false)?;
    let now = SystemClock.now();
    let mut progress = Printer::new();
    match cmd {
        KeysCommand::New { .. } => unreachable!("handled above"),
        KeysCommand::Rotate => {
            let done = rotation::rewrap_all(&store, &keyring, &mut progress, now).await?;
            println!(
                "master key {}: {} data key(s) re-wrapped, {} already were",
                keyring.kek_id(),
                done.rewrapped,
                done.current
            );
            if keyring.previous_kek_ids().next().is_some() {
                println!(
                    "next: `lakegate keys retire` checks the previous master keys are no longer needed"
                );
            }
        }
        KeysCommand::Retire => {
            let needed = rotation::still_needed(&store, &keyring).await?;
            if !needed.is_empty() {
                for (kek, n) in &needed {
                    println!("still needed: master key {kek} wraps {n} data key(s)");
                }
                bail!(
                    "run `lakegate keys rotate` first (with every needed key in previous_master_key_files)"
                );
            }
            let previous: Vec<&str> = keyring.previous_kek_ids().collect();
            if previous.is_empty() {
                println!(
                    "every data key is wrapped by master key {}; no previous key is configured",
                    keyring.kek_id()
                );
            } else {
                println!(
                    "every data key is wrapped by master key {}; {} no longer needed: remove previous_master_key_files on every replica and restart",
                    keyring.kek_id(),
                    previous.join(", ")
                );
            }
        }
        KeysCommand::RotateData { org, all: _, batch } => {
            let orgs = match org {
                Some(slug) => vec![
                    store
                        .org_by_slug(&slug)
                        .await?
                        .ok_or_else(|| anyhow!("no organization with slug {slug:?}"))?,
                ],
                None => store.list_orgs().await?,
            };
            for org in orgs {
                let done =
                    rotation::rotate_data(&store, &keyring, &org.id, batch, &mut progress, now)
                        .await?;
                println!(
                    "{}: data key {} ({}), {} secret(s) re-encrypted in {} pass(es)",
                    org.slug,
                    done.key_id,
                    if done.created { "new" } else { "resumed" },
                    done.reencrypted,
                    done.passes
                );
            }
        }
    }
    Ok(())
}

/// Progress on stderr: a bar redrawn in place on a terminal, otherwise a plain line at
/// every tenth of the way (logs and CI stay readable).
struct Printer {
    terminal: bool,
    label: String,
    total: u64,
    shown: u64,
}

impl Printer {
    fn new() -> Printer {
        Printer {
            terminal: std::io::stderr().is_terminal(),
            label: String::new(),
            total: 0,
            shown: 0,
        }
    }
}

impl Progress for Printer {
    fn start(&mut self, label: &str, total: u64) {
        self.label = label.to_owned();
        self.total = total;
        self.shown = 0;
    }

    fn advance(&mut self, done: u64) {
        let total = self.total.max(done).max(1);
        let tenth = done * 10 / total;
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let filled = (done * 30 / total) as usize;
            let _ = write!(
                err,
                "\r{} [{:<30}] {done}/{total}",
                self.label,
                "#".repeat(filled)
            );
        } else if tenth > self.shown {
            self.shown = tenth;
            let _ = writeln!(err, "{}: {done}/{total}", self.label);
        }
    }

    fn finish(&mut self) {
        if self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}
