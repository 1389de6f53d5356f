//! The benchmark pages: fixture bundles and the props each page renders.

use std::path::PathBuf;

use serde_json::json;

/// A page: which bundle, which component, which props.
pub struct Page {
    pub name: &'static str,
    pub bundle: PathBuf,
    pub component: &'static str,
    pub props: String,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("loadtest/ has a parent")
        .to_path_buf()
}

pub fn fixture(name: &str) -> Result<PathBuf, String> {
    let path = repo_root()
        .join("tests/fixtures/build")
        .join(format!("{name}.js"));
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: run tests/setup.sh (or make setup)",
            path.display()
        ))
    }
}

pub fn page(name: &str) -> Result<Page, String> {
    let (bundle, component, props) = match name {
        "table" => ("pages", "Table", json!({})),
        "divs" => ("pages", "Divs", json!({})),
        "app" => ("pages", "App", json!({})),
        "pricelist" => {
            let items: Vec<_> = (0..200)
                .map(|i| {
                    let currency = ["USD", "EUR", "JPY", "GBP"][i % 4];
                    json!({"id": i, "name": format!("Product {i}"), "price": i as f64 * 17.25 + 0.99, "currency": currency})
                })
                .collect();
            (
                "intl",
                "PriceList",
                json!({"items": items, "locale": "en-US"}),
            )
        }
        other => {
            return Err(format!(
                "unknown page {other} (table, divs, app, pricelist)"
            ))
        }
    };
    Ok(Page {
        name: match name {
            "table" => "table",
            "divs" => "divs",
            "app" => "app",
            _ => "pricelist",
        },
        bundle: fixture(bundle)?,
        component,
        props: props.to_string(),
    })
}
