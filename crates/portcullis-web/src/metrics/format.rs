//! Which text format a scrape is answered in. OpenMetrics 1.0 unless the
//! scraper prefers Prometheus's classic text format (0.0.4) in its
//! `Accept` header, as older agents and `promtool check metrics` read.
//! Prometheus itself asks for OpenMetrics first.
//!
//! prometheus-client writes OpenMetrics only. The classic form of what we
//! write differs in two things: a counter's `# HELP` and `# TYPE` name the
//! samples' `_total` name, and there is no `# EOF`. (Units, exemplars,
//! `_created` samples and `info` or `stateset` types, which differ more,
//! are never written here.)

use axum::http::{HeaderMap, header};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Classic,
}

impl Format {
    /// The format the `Accept` header prefers: OpenMetrics unless
    /// `text/plain` is asked for with a higher weight (or alone).
    pub fn negotiate(headers: &HeaderMap) -> Self {
        let mut open_metrics = None::<f32>;
        let mut classic = None::<f32>;
        for value in headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()) {
            for range in value.split(',') {
                let mut params = range.split(';').map(str::trim);
                let media = params.next().unwrap_or("").to_ascii_lowercase();
                let q = params
                    .filter_map(|p| p.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                    .and_then(|(_, v)| v.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                let slot = match media.as_str() {
                    "application/openmetrics-text" => &mut open_metrics,
                    "text/plain" => &mut classic,
                    _ => continue,
                };
                *slot = Some(slot.map_or(q, |seen| seen.max(q)));
            }
        }
        match (open_metrics, classic) {
            (None, Some(q)) if q > 0.0 => Self::Classic,
            (Some(om), Some(q)) if q > om => Self::Classic,
            _ => Self::OpenMetrics,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Classic => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// `open_metrics` (prometheus-client's output) in this format.
    pub fn render(self, open_metrics: String) -> String {
        match self {
            Self::OpenMetrics => open_metrics,
            Self::Classic => classic(&open_metrics),
        }
    }
}

fn classic(open_metrics: &str) -> String {
    let counters: std::collections::HashSet<&str> =
        open_metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter")).collect();
    let mut out = String::with_capacity(open_metrics.len() + 16 * counters.len());
    for line in open_metrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "].into_iter().find_map(|p| Some((p, line.strip_prefix(p)?)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                out.push_str(prefix);
                out.push_str(name);
                if counters.contains(name) {
                    out.push_str("_total");
                }
                out.push(' ');
                out.push_str(tail);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(value: &str) -> Format {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        Format::negotiate(&headers)
    }

    #[test]
    fn open_metrics_unless_text_plain_is_preferred() {
        assert_eq!(Format::negotiate(&HeaderMap::new()), Format::OpenMetrics);
        assert_eq!(accept("*/*"), Format::OpenMetrics);
        // Prometheus 2.x.
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(accept(prometheus), Format::OpenMetrics);
        assert_eq!(accept("text/plain; version=0.0.4"), Format::Classic);
        assert_eq!(accept("Text/Plain;q=0.9, application/openmetrics-text;q=0.5"), Format::Classic);
        assert_eq!(accept("text/plain;q=0"), Format::OpenMetrics);
        assert_eq!(accept("text/plain;q=0.5, application/openmetrics-text"), Format::OpenMetrics);
    }

    #[test]
    fn counters_are_named_by_their_samples_and_eof_goes_in_the_classic_format() {
        let open_metrics = "# HELP a_requests Requests.\n# TYPE a_requests counter\na_requests_total{x=\"1\"} 2\n\
                            # HELP a_open Open now.\n# TYPE a_open gauge\na_open 1\n# EOF\n";
        assert_eq!(
            classic(open_metrics),
            "# HELP a_requests_total Requests.\n# TYPE a_requests_total counter\na_requests_total{x=\"1\"} 2\n\
             # HELP a_open Open now.\n# TYPE a_open gauge\na_open 1\n"
        );
        assert_eq!(Format::OpenMetrics.render(open_metrics.to_owned()), open_metrics);
    }
}
