//! The README's tables are checked against the code, so they cannot drift:
//! the options table against `ssr-pool serve --help`, the error table
//! against the error table in `errors.rs`.

use std::collections::BTreeMap;
use std::process::Command;

use ssr_api::errors::Code;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap()
}

/// The rows of the Markdown table whose header starts with `header`, as
/// cells with backticks removed.
fn table(text: &str, header: &str) -> Vec<Vec<String>> {
    let start = text
        .find(header)
        .unwrap_or_else(|| panic!("README has a table headed {header:?}"));
    text[start..]
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            line.trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().trim_matches('`').to_owned())
                .collect()
        })
        .collect()
}

/// `--flag` -> default, as `serve --help` prints them: the last
/// `[default: X]` of the description, `off` for switches, `none` otherwise.
fn help_defaults() -> BTreeMap<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_ssr-pool"))
        .args(["serve", "--help"])
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = help.lines().collect();
    let mut options = BTreeMap::new();
    for pair in lines.windows(2) {
        let flag_line = pair[0].trim_start();
        let Some(flag) = flag_line.strip_prefix("--") else {
            continue;
        };
        let flag = flag.split_whitespace().next().unwrap();
        if flag == "help" {
            continue;
        }
        let description = pair[1];
        let default = match description.rfind("[default: ") {
            Some(at) => {
                let rest = &description[at + "[default: ".len()..];
                // clap quotes a default with spaces in it.
                rest[..rest.find(']').unwrap()].trim_matches('"').to_owned()
            }
            None if flag_line.contains('<') => "none".to_owned(),
            None => "off".to_owned(),
        };
        options.insert(format!("--{flag}"), default);
    }
    options
}

#[test]
fn readme_options_table_matches_serve_help() {
    let readme: BTreeMap<String, String> = table(&readme(), "| option | default | what |")
        .into_iter()
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect();
    assert_eq!(readme, help_defaults());
}

#[test]
fn readme_error_table_matches_the_error_codes() {
    let readme: Vec<(String, u16, bool)> = table(&readme(), "| code | status | Retry-After |")
        .into_iter()
        .map(|row| (row[0].clone(), row[1].parse().unwrap(), row[2] == "yes"))
        .collect();
    let code: Vec<(String, u16, bool)> = Code::ALL
        .iter()
        .map(|c| (c.name().to_owned(), c.status().as_u16(), c.retry()))
        .collect();
    assert_eq!(readme, code);
}

#[test]
fn served_openapi_lists_every_error_code() {
    let document: serde_json::Value =
        serde_json::from_str(ssr_api::app::openapi_document()).unwrap();
    let listed: Vec<&str> = document["components"]["schemas"]["Error"]["properties"]["error"]
        ["properties"]["code"]["enum"]
        .as_array()
        .expect("the served document lists the codes")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let codes: Vec<&str> = Code::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(listed, codes);
}
