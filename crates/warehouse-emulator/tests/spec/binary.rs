//! The `warehouse-emulator` binary.

use std::process::Command;

#[test]
fn the_default_config_prints_as_toml_that_loads_back() {
    let out = Command::new(env!("CARGO_BIN_EXE_warehouse-emulator"))
        .arg("--print-default-config")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let config: warehouse_emulator::EmulatorConfig = toml::from_str(&text).unwrap();
    assert_eq!(config.users.len(), 2);
    assert_eq!(config.users[0].email, "alice@example.com");
    assert_ne!(
        config.users[0].grants, config.users[1].grants,
        "the two users have different grants"
    );
    assert_eq!(config.nyctaxi_rows, 100_000);
}

#[test]
fn a_bad_config_file_is_one_clear_error() {
    let path = std::env::temp_dir().join(format!("emu-bad-{}.toml", std::process::id()));
    std::fs::write(&path, "colour = 'red'\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_warehouse-emulator"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("colour"), "{err}");
    let _ = std::fs::remove_file(path);
}
