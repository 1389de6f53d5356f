//! `console` in a bundle goes to the service log (tracing), tagged with the
//! component being rendered, at the matching level.

use std::sync::{Arc, Mutex};

use bundles::Bundle;
use e2e::{start_pool, test_config};
use pool::RenderRequest;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

#[derive(Debug, Clone, PartialEq)]
struct Line {
    level: tracing::Level,
    component: String,
    message: String,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Line>>>);

#[derive(Default)]
struct Fields {
    component: String,
    message: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "component" {
            self.component = value.to_owned();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "component" => self.component = format!("{value:?}"),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != "ssr::console" {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.0.lock().unwrap().push(Line {
            level: *event.metadata().level(),
            component: fields.component,
            message: fields.message,
        });
    }
}

#[tokio::test]
async fn console_output_reaches_the_log_tagged_with_the_component() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(capture.clone()))
        .expect("first subscriber of this test binary");
    let source = r#"
        SsrPool.register("Logger", (props) => {
            console.log("hello", 42, {a: 1});
            console.warn("careful", props.who);
            console.error(new Error("bad thing"));
            return "<p>logged</p>";
        });
    "#;
    let bundle = Bundle::from_bytes("logger.js", source, 1 << 20).unwrap();
    let pool = start_pool(bundle, test_config(1)).await;
    capture.0.lock().unwrap().clear(); // warm-up renders log too
    let html = pool
        .render(RenderRequest::new("Logger", r#"{"who": "you"}"#))
        .await
        .unwrap()
        .html;
    assert_eq!(html, "<p>logged</p>");
    pool.shutdown().await;

    let lines = capture.0.lock().unwrap().clone();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        lines[0],
        Line {
            level: tracing::Level::INFO,
            component: "Logger".into(),
            message: r#"hello 42 {"a":1}"#.into(),
        }
    );
    assert_eq!(lines[1].level, tracing::Level::WARN);
    assert_eq!(lines[1].message, "careful you");
    assert_eq!(lines[2].level, tracing::Level::ERROR);
    assert!(
        lines[2].message.starts_with("Error: bad thing\n    at "),
        "{:?}",
        lines[2]
    );
}
