//! The example app's prebuilt server bundle, embedded so `serve` and
//! `render` work with no arguments.

use bundles::{Bundle, BundleError, DEFAULT_MAX_BUNDLE_BYTES};

/// The source of `examples/app/dist/server.js`.
pub const EXAMPLE_BUNDLE: &str = include_str!("../../examples/app/dist/server.js");
/// Sample renders for warm-up of the example app.
pub const EXAMPLE_SAMPLES: &str = include_str!("../../examples/app/samples.json");
/// The example app's main page and its default props.
pub const EXAMPLE_COMPONENT: &str = "Home";
pub const EXAMPLE_PROPS: &str = include_str!("../../examples/app/props/home.json");

/// The embedded example bundle.
pub fn bundle() -> Result<Bundle, BundleError> {
    Bundle::from_bytes(
        "examples/app/dist/server.js",
        EXAMPLE_BUNDLE.as_bytes(),
        DEFAULT_MAX_BUNDLE_BYTES,
    )
}
