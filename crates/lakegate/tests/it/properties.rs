//! Property tests (proptest) of what an attacker or a misbehaving server reaches: host
//! parsing, callback parameters, token responses, envelope decoding, value typing, and the
//! CSV and NDJSON encoders. Each property holds for every generated input, not just the
//! examples the unit tests pick.

use std::collections::HashMap;

use lakegate::connections::flow::SignInService;
use lakegate::crypto::envelope::{open_with, seal_with};
use lakegate::egress::Policy;
use lakegate::providers::{self, oauth};
use lakegate::queries::output::{self, CsvCells};
use lakegate::warehouse::Column;
use lakegate::warehouse::values::{Kind, convert, convert_row};
use proptest::prelude::*;
use serde_json::Value;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

/// Text with the characters that matter to parsers: separators, quotes, escapes, controls,
/// non-ASCII.
fn nasty_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            any::<char>().prop_map(String::from),
            proptest::sample::select(vec![
                ",", "\"", "\n", "\r", "\r\n", "=", "&", "%", "?", "#", "/", "\\", ":", "@", "[",
                "]", ".", "-", "+", " ", "\t", "\u{0}", "é", "😀", "%2F", "%00",
            ])
            .prop_map(String::from),
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

const KINDS: [Kind; 8] = [
    Kind::Boolean,
    Kind::Integer,
    Kind::Float,
    Kind::Decimal,
    Kind::Timestamp,
    Kind::TimestampNtz,
    Kind::Nested,
    Kind::Text,
];

proptest! {
    #![proptest_config(config())]

    /// Whatever is pasted: no panic; what is accepted is a bare, lower-case https host on a
    /// Databricks domain, and parsing it again gives itself.
    #[test]
    fn host_parsing_accepts_only_databricks_hosts_and_is_idempotent(
        input in prop_oneof![
            nasty_text(),
            "[a-zA-Z0-9.-]{1,20}\\.(cloud\\.databricks\\.com|azuredatabricks\\.net|gcp\\.databricks\\.com|evil\\.example)",
            "(https?|ftp|javascript)://[a-zA-Z0-9.@:-]{1,30}(/[a-z?=#]{0,8})?",
        ]
    ) {
        let p = providers::by_kind("databricks-oauth-u2m").unwrap();
        let policy = Policy::default();
        if let Ok(host) = p.parse_host(&input, &policy) {
            prop_assert_eq!(&host.base_url, &format!("https://{}", host.name));
            prop_assert_eq!(host.name.to_ascii_lowercase(), host.name.clone());
            prop_assert!(
                [".cloud.databricks.com", ".azuredatabricks.net", ".gcp.databricks.com"]
                    .iter()
                    .any(|s| host.name.ends_with(s)),
                "{}", host.name
            );
            prop_assert!(!host.name.contains(['/', '@', ':', '?', '#']));
            let again = p.parse_host(&host.name, &policy).unwrap();
            prop_assert_eq!(again, host);
        }
    }

    /// Callback parameters: no panic; a query with unique keys comes back exactly; one with a
    /// repeated key is refused whatever its values.
    #[test]
    fn callback_parameters_round_trip_and_repeats_are_refused(
        pairs in proptest::collection::hash_map("[a-z_]{1,8}", nasty_text(), 0..6),
        raw in nasty_text(),
        repeat in any::<prop::sample::Index>(),
        other in nasty_text(),
    ) {
        let _ = SignInService::single_params(&raw);
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        let parsed = SignInService::single_params(&encoded).unwrap();
        prop_assert_eq!(&parsed, &pairs);
        if !pairs.is_empty() {
            let keys: Vec<&String> = pairs.keys().collect();
            let key = keys[repeat.index(keys.len())];
            let mut twice = url::form_urlencoded::Serializer::new(encoded.clone());
            twice.append_pair(key, &other);
            prop_assert!(SignInService::single_params(&twice.finish()).is_err());
        }
    }

    /// Token responses: no panic on any status and body; a success always carries a non-empty
    /// access token and a sane lifetime.
    #[test]
    fn token_responses_never_panic_and_successes_are_complete(
        status in prop_oneof![Just(200u16), Just(400u16), Just(401u16), Just(503u16), 100u16..600],
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            (
                proptest::option::of(nasty_text()),
                proptest::option::of(prop_oneof![
                    any::<i64>().prop_map(Value::from),
                    nasty_text().prop_map(Value::from),
                    Just(Value::Null),
                    any::<f64>().prop_map(Value::from),
                ]),
                proptest::option::of(nasty_text()),
                proptest::option::of(nasty_text()),
            )
                .prop_map(|(at, exp, rt, err)| {
                    let mut m = serde_json::Map::new();
                    if let Some(v) = at { m.insert("access_token".into(), v.into()); }
                    if let Some(v) = exp { m.insert("expires_in".into(), v); }
                    if let Some(v) = rt { m.insert("refresh_token".into(), v.into()); }
                    if let Some(v) = err { m.insert("error".into(), v.into()); }
                    m.insert("token_type".into(), "Bearer".into());
                    serde_json::to_vec(&Value::Object(m)).unwrap()
                }),
        ]
    ) {
        let dialect = &providers::databricks::DIALECT;
        if let Ok(tokens) = oauth::parse_token_response(dialect, status, &body) {
            prop_assert!((200..300).contains(&status));
            prop_assert!(!tokens.access_token.expose().is_empty());
            prop_assert!(tokens.expires_in > 0 && tokens.expires_in <= 7 * 24 * 3600);
        }
    }

    /// Envelopes: no panic on any blob; a ciphertext opens only with its own key and binding,
    /// and any single changed byte makes it fail (never a wrong plaintext).
    #[test]
    fn envelopes_open_only_intact_with_their_key_and_binding(
        key in any::<[u8; 32]>(),
        other_key in any::<[u8; 32]>(),
        aad in proptest::collection::vec(any::<u8>(), 0..40),
        other_aad in proptest::collection::vec(any::<u8>(), 0..40),
        plaintext in proptest::collection::vec(any::<u8>(), 0..200),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
        junk in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        prop_assert!(open_with(&key, &aad, &junk).is_err() || junk.starts_with(b"LG1"));
        let blob = seal_with(&key, "dk-1", &aad, &plaintext).unwrap();
        let opened = open_with(&key, &aad, &blob).unwrap();
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
        if other_key != key {
            prop_assert!(open_with(&other_key, &aad, &blob).is_err());
        }
        if other_aad != aad {
            prop_assert!(open_with(&key, &other_aad, &blob).is_err());
        }
        let mut tampered = blob.clone();
        let i = flip.index(tampered.len());
        tampered[i] ^= 1 << bit;
        prop_assert!(open_with(&key, &aad, &tampered).is_err());
        prop_assert!(open_with(&key, &aad, &blob[..blob.len() - 1]).is_err());
    }

    /// Value typing never invents or drops data: a value is null only when Databricks sent
    /// null, stays the exact string when it does not parse as its type, and a typed value
    /// means what the string said.
    #[test]
    fn value_typing_keeps_every_value(
        kind in proptest::sample::select(KINDS.to_vec()),
        raw in proptest::option::of(prop_oneof![
            nasty_text(),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| f.to_string()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            "-?[0-9]{1,30}(\\.[0-9]{1,30})?",
        ]),
    ) {
        let v = convert(kind, raw.as_deref());
        match (&raw, &v) {
            (None, Value::Null) => {}
            (None, other) => prop_assert!(false, "null became {other}"),
            (Some(_), Value::Null) => prop_assert!(false, "a value became null"),
            (Some(s), Value::String(t)) if matches!(kind, Kind::Timestamp | Kind::TimestampNtz) => {
                // Only a timestamp's separator becomes `T` (and a zone-less TIMESTAMP gets `Z`).
                let iso = s.replacen(' ', "T", 1);
                prop_assert!(
                    t == s || (s.len() >= 19 && s.is_char_boundary(10) && s[..10].bytes().all(|c| c.is_ascii_digit() || c == b'-')
                        && (*t == iso || *t == format!("{iso}Z"))),
                    "{s:?} became {t:?}"
                );
            }
            // Nested first: JSON text holding a string (`"\"\""`) is that string.
            (Some(s), nested) if kind == Kind::Nested => {
                prop_assert_eq!(nested, &serde_json::from_str::<Value>(s).unwrap_or_else(|_| Value::String(s.clone())));
            }
            (Some(s), Value::String(t)) => prop_assert_eq!(s, t),
            (Some(s), Value::Bool(b)) => prop_assert_eq!(s, if *b { "true" } else { "false" }),
            (Some(s), Value::Number(n)) => {
                let meant: f64 = s.parse().unwrap();
                prop_assert_eq!(n.as_f64().unwrap(), meant);
                if let Some(i) = n.as_i64() {
                    prop_assert_eq!(s.parse::<i64>().ok().or(Some(i)), Some(i));
                }
            }
            (Some(_), other) => prop_assert!(false, "unexpected {other}"),
        }
    }

    /// What the CSV encoder writes, a CSV reader reads back as the same rows (NULL as an
    /// empty field, the empty string quoted), in both cell modes' verbatim parts.
    #[test]
    fn csv_round_trips(
        names in proptest::collection::vec("[a-z]{1,6}", 1..5),
        cells in proptest::collection::vec(proptest::collection::vec(proptest::option::of(nasty_text()), 5), 0..8),
    ) {
        let columns: Vec<Column> = names
            .iter()
            .map(|n| Column { name: n.clone(), type_name: "STRING".into(), type_text: "string".into(), encoding: Default::default() })
            .collect();
        let rows: Vec<Vec<Option<String>>> =
            cells.into_iter().map(|r| r.into_iter().take(columns.len()).collect()).collect();
        let mut out = output::csv_header(&columns, CsvCells::Verbatim);
        out.extend(output::csv(&rows, CsvCells::Verbatim));
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(out.as_slice());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
        prop_assert_eq!(header, names);
        let mut back = Vec::new();
        for record in reader.into_byte_records() {
            let record = record.unwrap();
            // Position of each field in the raw bytes tells NULL (empty, unquoted) from "".
            back.push(record.iter().map(|f| String::from_utf8(f.to_vec()).unwrap()).collect::<Vec<_>>());
        }
        let expected: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(|v| v.clone().unwrap_or_default()).collect())
            .collect();
        prop_assert_eq!(back, expected, "every row comes back, none skipped");
        // NULL and "" stay apart in the bytes (NULL is nothing, "" a quoted pair) wherever
        // a row has more than one column.
        for r in rows.iter().filter(|r| r.len() > 1) {
            let line = output::csv(std::slice::from_ref(r), CsvCells::Verbatim);
            for (k, v) in r.iter().enumerate() {
                let swapped = match v.as_deref() {
                    None => Some(String::new()),
                    Some("") => None,
                    Some(_) => continue,
                };
                let mut other = r.clone();
                other[k] = swapped;
                prop_assert_ne!(&line, &output::csv(&[other], CsvCells::Verbatim));
            }
        }
    }

    /// Every NDJSON line is one JSON object with the typed values, keys unique.
    #[test]
    fn ndjson_round_trips(
        types in proptest::collection::vec(proptest::sample::select(vec!["STRING", "INT", "DOUBLE", "BOOLEAN", "DECIMAL", "ARRAY"]), 1..5),
        names in proptest::collection::vec("[a-c]{1,2}", 5),
        cells in proptest::collection::vec(proptest::collection::vec(proptest::option::of(nasty_text()), 5), 0..8),
    ) {
        let columns: Vec<Column> = types
            .iter()
            .zip(&names)
            .map(|(t, n)| Column { name: n.clone(), type_name: (*t).into(), type_text: t.to_lowercase(), encoding: Default::default() })
            .collect();
        let rows: Vec<Vec<Option<String>>> =
            cells.into_iter().map(|r| r.into_iter().take(columns.len()).collect()).collect();
        let keys = output::unique_names(&columns);
        let kinds = output::kinds(&columns);
        let out = String::from_utf8(output::ndjson(&output::ndjson_keys(&keys), &kinds, &rows)).unwrap();
        let lines: Vec<&str> = out.split_terminator('\n').collect();
        prop_assert_eq!(lines.len(), rows.len());
        for (line, row) in lines.iter().zip(&rows) {
            let obj: HashMap<String, Value> = serde_json::from_str(line).unwrap();
            prop_assert_eq!(obj.len(), columns.len(), "no value lost to a repeated name");
            let typed = convert_row(&kinds, row);
            for (key, value) in keys.iter().zip(typed) {
                prop_assert_eq!(&obj[key], &value);
            }
        }
    }
}
