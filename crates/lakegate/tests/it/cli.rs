//! The `lakegate` binary: the script-facing forms, secrets from files or stdin, one-line
//! errors with a non-zero exit.

use std::io::Write;
use std::process::{Command, Output, Stdio};

pub(crate) struct Cli {
    pub(crate) dir: tempfile::TempDir,
}

impl Cli {
    pub(crate) fn new() -> Cli {
        Cli {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lakegate"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LAKEGATE_DATA_DIR", self.dir.path())
            .current_dir(self.dir.path());
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    fn run_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_scripted_forms_create_an_org_a_user_and_a_token() {
    let cli = Cli::new();
    let out = cli.run(&["org", "create", "--slug", "acme", "--name", "Acme Inc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pw = cli.dir.path().join("pw");
    std::fs::write(&pw, "file-password-123\n").unwrap();
    let out = cli.run(&[
        "user",
        "create",
        "--org",
        "acme",
        "--email",
        "admin@acme.test",
        "--role",
        "admin",
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cli.run_stdin(
        &[
            "user",
            "create",
            "--org",
            "acme",
            "--email",
            "viewer@acme.test",
            "--role",
            "viewer",
            "--password-file",
            "-",
        ],
        "stdin-password-123\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cli.run(&[
        "user",
        "set-role",
        "--org",
        "acme",
        "--email",
        "viewer@acme.test",
        "--role",
        "editor",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cli.run(&["user", "list", "--org", "acme"]);
    let listing = stdout(&out);
    assert!(
        listing.contains("admin@acme.test\tadmin\tactive"),
        "{listing}"
    );
    assert!(
        listing.contains("viewer@acme.test\teditor\tactive"),
        "{listing}"
    );
    let out = cli.run(&[
        "token",
        "create",
        "--org",
        "acme",
        "--email",
        "admin@acme.test",
        "--name",
        "ci",
        "--scopes",
        "admin,queries:run",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out);
    assert!(
        token.starts_with("lgp_") && token.trim().lines().count() == 1,
        "only the token on stdout: {token:?}"
    );
    let out = cli.run(&[
        "service-key",
        "create",
        "--org",
        "acme",
        "--name",
        "platform",
        "--scopes",
        "tokens:vend,queries:run",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let key = stdout(&out);
    assert!(
        key.starts_with("lgk_") && key.trim().lines().count() == 1,
        "only the key on stdout: {key:?}"
    );
    let out = cli.run(&[
        "service-key",
        "create",
        "--org",
        "acme",
        "--name",
        "x",
        "--scopes",
        "admin",
    ]);
    assert!(!out.status.success(), "a service key never holds admin");
    assert!(
        stderr(&out).contains("cannot hold the admin scope"),
        "{}",
        stderr(&out)
    );
    let out = cli.run(&[
        "user",
        "disable",
        "--org",
        "acme",
        "--email",
        "viewer@acme.test",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&cli.run(&["user", "list", "--org", "acme"]))
            .contains("viewer@acme.test\teditor\tdisabled")
    );
    assert!(stdout(&cli.run(&["org", "list"])).starts_with("acme\tAcme Inc\t"));
}

#[test]
fn errors_are_one_clear_sentence_and_a_non_zero_exit() {
    let cli = Cli::new();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["org", "create", "--slug", "Bad Slug", "--name", "x"],
            "not a valid slug",
        ),
        (
            vec!["user", "list", "--org", "nowhere"],
            "organization not found",
        ),
        (
            vec![
                "user",
                "create",
                "--org",
                "acme",
                "--email",
                "a@b.c",
                "--role",
                "root",
                "--password-file",
                "-",
            ],
            "not a role",
        ),
        (
            vec![
                "token", "create", "--org", "acme", "--email", "a@b.c", "--name", "x", "--scopes",
                "root",
            ],
            "unknown scope",
        ),
        (vec!["serve"], "public_url"),
    ];
    assert!(
        cli.run(&["org", "create", "--slug", "acme", "--name", "Acme"])
            .status
            .success()
    );
    for (args, expected) in cases {
        let out = cli.run(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = stderr(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(
            err.trim().lines().count() <= 3,
            "{args:?}: short error, got {err}"
        );
    }
    let out = cli.run(&["org", "create", "--slug", "acme", "--name", "Acme"]);
    assert!(stderr(&out).contains("already exists"));
    let out = cli.run_stdin(
        &[
            "user",
            "create",
            "--org",
            "acme",
            "--email",
            "a@b.co",
            "--role",
            "admin",
            "--password-file",
            "-",
        ],
        "short\n",
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("8 to 1024 characters"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("short"),
        "the password is not echoed"
    );
}

#[test]
fn the_last_admin_cannot_be_demoted_or_disabled() {
    let cli = Cli::new();
    assert!(
        cli.run(&["org", "create", "--slug", "acme", "--name", "Acme"])
            .status
            .success()
    );
    assert!(
        cli.run_stdin(
            &[
                "user",
                "create",
                "--org",
                "acme",
                "--email",
                "a@acme.test",
                "--role",
                "admin",
                "--password-file",
                "-"
            ],
            "long-enough-pw"
        )
        .status
        .success()
    );
    for args in [
        vec![
            "user",
            "set-role",
            "--org",
            "acme",
            "--email",
            "a@acme.test",
            "--role",
            "viewer",
        ],
        vec!["user", "disable", "--org", "acme", "--email", "a@acme.test"],
    ] {
        let out = cli.run(&args);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("at least one active admin"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn migrate_applies_and_reports() {
    let cli = Cli::new();
    let out = cli.run(&["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("migrations applied"));
    assert!(cli.dir.path().join("lakegate.db").exists());
}

#[tokio::test]
async fn integration_set_show_and_delete_never_print_the_secret() {
    let mut ws = crate::harness::Workspace::start().await;
    // The app connection knows the configured public URL's redirect URL (saving checks it).
    ws.register("https://lakegate.example.com", Default::default());
    let cli = Cli::new();
    let ca = cli.dir.path().join("ca.pem");
    std::fs::write(&ca, ws.emu.ca_pem.clone().unwrap()).unwrap();
    let host = ws.host();
    let secret = ws.client_secret.clone();
    let client_id = ws.client_id.clone();
    // The emulator also plays Google, moved there by the operator's setting.
    ws.emu
        .register_google_client(warehouse_emulator::GoogleClientConfig {
            client_id: "1-cli.apps.googleusercontent.com".into(),
            client_secret: "GOCSPX-cli".into(),
            redirect_uris: vec![
                "https://lakegate.example.com/connections/oauth/bigquery/callback".into(),
            ],
            testing: false,
        });
    let google = ws.emu.base_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        let run = |args: &[&str], stdin: Option<&str>| {
            let mut cmd = cli.cmd();
            cmd.env("LAKEGATE_EGRESS_GOOGLE_BASE_URL", &google)
                .env("LAKEGATE_EGRESS_EXTRA_ALLOWED_HOSTS", &host)
                .env("LAKEGATE_EGRESS_ALLOWED_CIDRS", "127.0.0.0/8,::1/128")
                .env("LAKEGATE_EGRESS_EXTRA_CA_FILE", &ca)
                .env("LAKEGATE_PUBLIC_URL", "https://lakegate.example.com")
                .args(args);
            match stdin {
                Some(input) => {
                    let mut child = cmd
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap();
                    child
                        .stdin
                        .take()
                        .unwrap()
                        .write_all(input.as_bytes())
                        .unwrap();
                    child.wait_with_output().unwrap()
                }
                None => cmd.output().unwrap(),
            }
        };
        assert!(
            run(&["org", "create", "--slug", "acme", "--name", "Acme"], None)
                .status
                .success()
        );
        let set = run(
            &[
                "integration",
                "set",
                "databricks-oauth-u2m",
                "--org",
                "acme",
                "--host",
                &host,
                "--client-id",
                &client_id,
                "--client-secret-file",
                "-",
            ],
            Some(&format!("{secret}\n")),
        );
        // BigQuery takes no host; the others need one.
        let bigquery = run(
            &[
                "integration",
                "set",
                "bigquery-oauth",
                "--org",
                "acme",
                "--client-id",
                "1-cli.apps.googleusercontent.com",
                "--client-secret-file",
                "-",
            ],
            Some("GOCSPX-cli\n"),
        );
        assert!(bigquery.status.success(), "{}", stderr(&bigquery));
        let hostless = run(
            &[
                "integration",
                "set",
                "snowflake-oauth",
                "--org",
                "acme",
                "--client-id",
                "c",
            ],
            None,
        );
        assert!(!hostless.status.success());
        assert!(
            stderr(&hostless).contains("--host is required for snowflake-oauth"),
            "{}",
            stderr(&hostless)
        );
        let show = run(
            &[
                "integration",
                "show",
                "databricks-oauth-u2m",
                "--org",
                "acme",
            ],
            None,
        );
        let delete = run(
            &[
                "integration",
                "delete",
                "databricks-oauth-u2m",
                "--org",
                "acme",
            ],
            None,
        );
        let again = run(
            &[
                "integration",
                "show",
                "databricks-oauth-u2m",
                "--org",
                "acme",
            ],
            None,
        );
        (set, show, delete, again)
    })
    .await
    .unwrap();
    let (set, show, delete, again) = out;
    assert!(set.status.success(), "{}", stderr(&set));
    assert!(
        stdout(&show).contains("client_secret_set\ttrue"),
        "{}",
        stdout(&show)
    );
    assert!(stdout(&show).contains(
        "redirect_url\thttps://lakegate.example.com/connections/oauth/databricks/callback"
    ));
    assert!(delete.status.success(), "{}", stderr(&delete));
    assert!(!again.status.success());
    assert!(stderr(&again).contains("not configured"));
    for o in [&set, &show, &delete, &again] {
        assert!(
            !stdout(o).contains(&ws.client_secret) && !stderr(o).contains(&ws.client_secret),
            "the secret was printed"
        );
    }
}

#[test]
fn doctor_prints_a_line_per_check_and_fails_on_a_missing_master_key() {
    let cli = Cli::new();
    assert!(cli.run(&["migrate"]).status.success());
    let sick = cli.run(&["doctor"]);
    assert!(!sick.status.success());
    assert!(
        stdout(&sick).contains("ok    configuration: loaded"),
        "{}",
        stdout(&sick)
    );
    assert!(
        stdout(&sick).contains("FAIL  master key"),
        "{}",
        stdout(&sick)
    );
    assert!(
        !cli.dir.path().join("master.key").exists(),
        "doctor never creates a key"
    );

    // With a master key (as `serve` creates it) and an org, nothing else to check: all well.
    let key = cli.dir.path().join("master.key");
    std::fs::write(&key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    assert!(
        cli.run(&["org", "create", "--slug", "acme", "--name", "Acme"])
            .status
            .success()
    );
    let well = cli.run(&["doctor"]);
    let out = stdout(&well);
    assert!(well.status.success(), "{out}{}", stderr(&well));
    for line in [
        "ok    store: migrations",
        "ok    store: clock",
        "ok    master key: org data keys",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
    assert!(!out.contains("FAIL"), "{out}");
}
