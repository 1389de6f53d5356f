//! `ssr-bench fetch`: a page whose three sections each fetch JSON from a
//! local upstream answering after 20 ms (`crate::upstream`), streamed
//! over HTTP by the service and by Node (`renderToPipeableStream` behind
//! `cluster`, Node's built-in fetch), and the service's same page with the
//! data passed in props, at the same concurrency and worker count, in
//! alternating rounds. Targets: throughput >= 1.3x Node's, and >= 0.9x the
//! page with its data in props (waiting on the network must not hold a
//! CPU).

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::harness::write;
use super::rounds::{self, measure, median_round, Measured, ROUNDS};
use crate::http::Call;
use crate::servers::{Kind, Server};

/// The page's sections: each waits 20 ms for its data.
fn sections() -> Value {
    json!([
        {"id": "deals", "delay": 20, "rows": 12},
        {"id": "catalog", "delay": 20, "rows": 60},
        {"id": "reviews", "delay": 20, "rows": 30},
    ])
}

/// The rows each section would fetch, fetched once, for the page that gets
/// its data in props.
async fn data_of(origin: &str) -> Result<Value, String> {
    let addr = origin
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let mut data = serde_json::Map::new();
    for section in sections().as_array().unwrap() {
        let (id, rows) = (section["id"].as_str().unwrap(), &section["rows"]);
        let call = Call::get(format!("/items?section={id}&rows={rows}"));
        let (_, body) = crate::http::request(addr, &call).await?;
        let json: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        data.insert(id.to_owned(), json["rows"].clone());
    }
    Ok(Value::Object(data))
}

pub async fn run(
    workers: usize,
    concurrency: usize,
    seconds: Duration,
    out: &Path,
) -> Result<(), String> {
    let origin = crate::upstream::start().await?;
    let fetching = Call::render(
        "FetchPage",
        &json!({"api": origin, "sections": sections()}).to_string(),
    );
    let data = data_of(&origin).await?;
    let props_page = Call::render(
        "PropsPage",
        &json!({"sections": sections(), "data": data}).to_string(),
    );
    let bundle = e2e::find_fixture("fetch")?;
    let service_args = [
        "--fetch-allow".to_owned(),
        origin.clone(),
        "--max-renders-in-flight".to_owned(),
        concurrency.to_string(),
    ];
    let service = Server::start(Kind::Service, &bundle, workers, &fetching, &service_args).await?;
    let node = Server::start(Kind::NodeFetch, &bundle, workers, &fetching, &[]).await?;
    let mut runs: [Vec<Measured>; 3] = Default::default();
    for _ in 0..ROUNDS {
        runs[0].push(measure(&service, fetching.clone(), concurrency, seconds).await?);
        runs[1].push(measure(&service, props_page.clone(), concurrency, seconds).await?);
        runs[2].push(measure(&node, fetching.clone(), concurrency, seconds).await?);
    }
    let [fetched, in_props, node_fetched] = runs.map(median_round);
    let over_node = fetched.load.per_sec / node_fetched.load.per_sec;
    let over_props = fetched.load.per_sec / in_props.load.per_sec;
    rounds::print(
        Kind::Service.label(),
        &[("fetching", &fetched), ("data in props", &in_props)],
    );
    rounds::print(Kind::NodeFetch.label(), &[("fetching", &node_fetched)]);
    println!("service / node: {over_node:.3}   fetching / data in props: {over_props:.3}");
    let body = json!({
        "workers": workers, "concurrency": concurrency, "rounds": ROUNDS,
        "service": {"fetching": fetched, "dataInProps": in_props},
        "node": {"fetching": node_fetched},
        "serviceOverNode": over_node, "fetchingOverProps": over_props,
    });
    write(out, "fetch.json", &body)
}
