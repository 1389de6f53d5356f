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

pub fn page(name: &str) -> Result<Page, String> {
    let (name, bundle, component, props) = match name {
        "table" => ("table", "pages", "Table", json!({})),
        "divs" => ("divs", "pages", "Divs", json!({})),
        "app" => ("app", "pages", "App", json!({})),
        "pricelist" => ("pricelist", "intl", "PriceList", price_list()),
        "stream" => ("stream", "stream", "Stream", streamed([20, 50, 100])),
        other => {
            return Err(format!(
                "unknown page {other} (table, divs, app, pricelist, stream)"
            ))
        }
    };
    Ok(Page {
        name,
        bundle: e2e::find_fixture(bundle)?,
        component,
        props: props.to_string(),
    })
}

/// Every page of `names`, in order; fails before anything runs on an unknown
/// page or a missing bundle.
pub fn pages(names: &[String]) -> Result<Vec<Page>, String> {
    names.iter().map(|name| page(name)).collect()
}

/// Props of the streamed Suspense page (tests/fixtures/src/stream-page.jsx)
/// whose three boundaries wait `delays` ms for their data.
pub fn streamed(delays: [u64; 3]) -> serde_json::Value {
    let sections: Vec<_> = ["hero", "catalog", "reviews"]
        .iter()
        .zip(delays)
        .map(|(id, delay)| json!({"id": id, "delay": delay, "rows": 30}))
        .collect();
    json!({ "sections": sections })
}

/// 200 products in four currencies.
fn price_list() -> serde_json::Value {
    let items: Vec<_> = (0..200)
        .map(|i| {
            let currency = ["USD", "EUR", "JPY", "GBP"][i % 4];
            json!({"id": i, "name": format!("Product {i}"), "price": i as f64 * 17.25 + 0.99, "currency": currency})
        })
        .collect();
    json!({"items": items, "locale": "en-US"})
}
