//! `report.json`: per page the Node loop, every server's measurements and
//! the ratios, then the overhead, the scenarios and the worker count.

use serde_json::{json, Map, Value};

use super::results::{PageResult, Report};
use crate::servers::Kind;

pub fn render(report: &Report) -> Value {
    let mut map = Map::new();
    for page in &report.pages {
        map.insert(page.name.to_owned(), page_json(page));
    }
    let o = &report.overhead;
    map.insert(
        "overhead".into(),
        json!({"clientMs": o.client, "poolMs": o.pool, "renderMs": o.render, "handOverMs": o.queue, "handBackMs": o.hand_back(), "clientPercent": o.client_percent(), "dispatchPercent": o.dispatch_percent(),
            "bareThreads": {"handOverMs": o.floor.over, "handBackMs": o.floor.back, "percent": o.floor_percent()}}),
    );
    let s = &report.scenarios;
    map.insert(
        "scenarios".into(),
        json!({"mixedPages": s.mixed, "hypernovaBatch8": s.batches, "batchRendersPerSec": s.batch_renders_per_sec()}),
    );
    map.insert("workers".into(), json!(report.workers));
    Value::Object(map)
}

fn page_json(p: &PageResult) -> Value {
    let tails = json!({"service": p.tail(Kind::Service), "b2": p.tail(Kind::NodeCluster), "b3": p.tail(Kind::IsolatedVm)});
    json!({"b1": {"rendersPerSec": p.b1.renders_per_sec, "meanUs": p.b1.mean_us}, "servers": p.kinds,
           "ratios": {"serviceOverB2": p.service_over(Kind::NodeCluster), "serviceOverNxB1": p.service_over_n_b1(), "serviceOverB3": p.service_over(Kind::IsolatedVm),
                      "p99OverP50At70": tails,
                      "memoryPerExtraWorkerMiB": p.extra_mib(Kind::Service), "serviceColdStartNoWarmupMs": p.no_warmup_ms, "nodeProcessMiB": p.node_process_mib(), "ivmPerExtraIsolateMiB": p.extra_mib(Kind::IsolatedVm)},
           "isolateStart": p.isolate_start})
}
