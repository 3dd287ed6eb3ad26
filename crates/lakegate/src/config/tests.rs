//! The configuration's loading rules: defaults, file and environment, and the errors that
//! name the key.

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_put_the_sqlite_store_and_key_in_the_data_dir() {
    let c = Config::load(None, &env(&[("LAKEGATE_DATA_DIR", "/srv/lg")])).unwrap();
    assert_eq!(c.database_url, "sqlite:///srv/lg/lakegate.db");
    assert!(
        matches!(c.master_key, MasterKeySource::File(ref p) if p == Path::new("/srv/lg/master.key"))
    );
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    assert!(c.require_public_url().is_err());
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lakegate.toml");
    std::fs::write(
        &path,
        "public_url = \"https://a.example\"\nlisten = \"0.0.0.0:9000\"\n",
    )
    .unwrap();
    let c = Config::load(
        Some(&path),
        &env(&[("LAKEGATE_PUBLIC_URL", "https://b.example")]),
    )
    .unwrap();
    assert_eq!(c.public_url.unwrap().as_str(), "https://b.example/");
    assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
}

#[test]
fn errors_name_the_key() {
    let cases = [
        ("LAKEGATE_PUBLIC_URL", "ftp://x", "public_url"),
        ("LAKEGATE_PUBLIC_URL", "https://x/app", "public_url"),
        ("LAKEGATE_LISTEN", "nowhere", "listen"),
        ("LAKEGATE_DATABASE_URL", "mysql://x", "database_url"),
        ("LAKEGATE_LOG_FORMAT", "xml", "log_format"),
        ("LAKEGATE_SESSION_IDLE_MINUTES", "0", "session_idle_minutes"),
    ];
    for (k, v, key) in cases {
        let err = Config::load(None, &env(&[(k, v)])).unwrap_err().to_string();
        assert!(err.contains(key), "{k}={v}: {err}");
    }
}

#[test]
fn the_egress_section_reads_from_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[egress]\nextra_allowed_hosts = [\"dbc.privatelink.example\", \"localhost:8081\"]\nallowed_cidrs = [\"10.1.0.0/16\"]\n").unwrap();
    let c = Config::load(
        Some(&path),
        &env(&[("LAKEGATE_EGRESS_INSECURE_HTTP_HOSTS", "localhost:8081")]),
    )
    .unwrap();
    assert_eq!(c.egress.policy.extra_allowed_hosts.len(), 2);
    assert!(c.egress.policy.plain_http_allowed("localhost", Some(8081)));
    assert!(c.egress.policy.address_allowed("10.1.2.3".parse().unwrap()));
    let err = Config::load(
        None,
        &env(&[("LAKEGATE_EGRESS_ALLOWED_CIDRS", "10.0.0.0/99")]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("egress.allowed_cidrs"), "{err}");
    let err = Config::load(
        None,
        &env(&[("LAKEGATE_EGRESS_EXTRA_ALLOWED_HOSTS", "a:b")]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("egress.extra_allowed_hosts"), "{err}");
}

#[test]
fn the_webhooks_section_and_the_keyring_setting_read_from_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "previous_master_key_files = [\"/k/old.key\"]\n[webhooks]\nallowed_cidrs = [\"10.30.0.0/16\"]\n",
    )
    .unwrap();
    let c = Config::load(Some(&path), &env(&[])).unwrap();
    assert!(
        matches!(&c.previous_master_keys[..], [MasterKeySource::File(p)] if p == Path::new("/k/old.key"))
    );
    assert!(c.webhooks.address_allowed("10.30.0.9".parse().unwrap()));
    assert!(!c.webhooks.address_allowed("127.0.0.1".parse().unwrap()));
    // The warehouse policy is another: it allows nothing of the receivers'.
    assert!(
        !c.egress
            .policy
            .address_allowed("10.30.0.9".parse().unwrap())
    );
    let c = Config::load(
        Some(&path),
        &env(&[
            ("LAKEGATE_PREVIOUS_MASTER_KEY_FILES", "/k/a.key,/k/b.key"),
            ("LAKEGATE_WEBHOOKS_INSECURE_HTTP_HOSTS", "127.0.0.1:9000"),
        ]),
    )
    .unwrap();
    assert_eq!(c.previous_master_keys.len(), 2);
    assert!(c.webhooks.plain_http_allowed("127.0.0.1", Some(9000)));
    let err = Config::load(None, &env(&[("LAKEGATE_WEBHOOKS_ALLOWED_CIDRS", "nope")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("webhooks.allowed_cidrs"), "{err}");
}

#[test]
fn the_vend_limit_reads_from_file_and_environment_and_zero_turns_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "token_vend_limit_per_minute = 50\n").unwrap();
    assert_eq!(
        Config::load(None, &env(&[]))
            .unwrap()
            .token_vend_limit_per_minute,
        600
    );
    assert_eq!(
        Config::load(Some(&path), &env(&[]))
            .unwrap()
            .token_vend_limit_per_minute,
        50
    );
    let off = env(&[("LAKEGATE_TOKEN_VEND_LIMIT_PER_MINUTE", "0")]);
    assert_eq!(
        Config::load(Some(&path), &off)
            .unwrap()
            .token_vend_limit_per_minute,
        0
    );
    let err = Config::load(
        None,
        &env(&[("LAKEGATE_TOKEN_VEND_LIMIT_PER_MINUTE", "-1")]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("token_vend_limit_per_minute"), "{err}");
}

#[test]
fn unknown_file_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "pubilc_url = \"https://a.example\"\n").unwrap();
    let err = Config::load(Some(&path), &HashMap::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("pubilc_url"), "{err}");
}
