//! Prometheus metrics of the admission server (prefix `basalt_webhook_`): reviews by route and
//! outcome, and review latency by route. Labels are bounded: route names and three outcomes,
//! never object names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of the review counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    /// Route path such as `/jobs/validate`.
    pub route: String,
    /// `allowed`, `denied` or `bad_request`.
    pub outcome: String,
}

/// Labels of the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Route path.
    pub route: String,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// The server's metrics and the registry that exposes them.
pub struct Metrics {
    /// Reviews by route and outcome.
    pub reviews: Family<ReviewLabels, Counter>,
    /// Seconds spent deciding a review, by route.
    pub latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let reviews = Family::<ReviewLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let mut registry = Registry::with_prefix("basalt_webhook");
        registry.register(
            "reviews",
            "Admission reviews by route and outcome",
            reviews.clone(),
        );
        registry.register(
            "review_duration_seconds",
            "Time to decide one admission review",
            latency.clone(),
        );
        Self {
            reviews,
            latency,
            registry,
        }
    }
}

impl Metrics {
    /// Counts one review.
    pub fn observe(&self, route: &str, outcome: &str, seconds: f64) {
        self.reviews
            .get_or_create(&ReviewLabels {
                route: route.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
