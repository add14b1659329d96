//! PostHog's status page as plain data: the incident.io summary (`/api/v1/summary`, what PostHog's
//! own app reads) with the older Atlassian `summary.json` as a fallback, filtered to one region.
//!
//! Region comes from a component's `group_name` ("US Cloud …", "EU Cloud …"); an incident that
//! names no component is global and counts for every region.

use serde::{Deserialize, Serialize};

use super::Region;

/// What the status page says, reduced to what a preflight or triage needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusSnapshot {
    /// Which API answered.
    pub source: StatusSource,
    /// The human page to link to.
    pub page_url: String,
    /// Ongoing incidents (and in-progress maintenance) that affect the region asked about.
    pub incidents: Vec<StatusIncident>,
    /// How many ongoing incidents were left out because they affect only another region.
    pub other_regions: usize,
    /// The Atlassian page's overall indicator (`none`, `minor`, `major`, `critical`), when that API answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indicator: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatusSource {
    IncidentIo,
    Atlassian,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusIncident {
    pub name: String,
    /// `investigating`, `identified`, `monitoring`, … or `maintenance`.
    pub status: String,
    /// `degraded_performance`, `partial_outage`, `full_outage` (or `maintenance`).
    pub impact: String,
    pub url: Option<String>,
    /// Affected component names, `group / component`; empty means global.
    pub components: Vec<String>,
}

impl StatusSnapshot {
    pub fn is_clear(&self) -> bool {
        self.incidents.is_empty()
            && self
                .indicator
                .as_deref()
                .is_none_or(|i| i == "none" || i.is_empty())
    }

    /// The worst impact among the incidents, for ordering and severity.
    pub fn worst_impact(&self) -> Option<&str> {
        self.incidents
            .iter()
            .map(|i| i.impact.as_str())
            .max_by_key(|impact| impact_rank(impact))
    }
}

pub fn impact_rank(impact: &str) -> u8 {
    match impact {
        "full_outage" | "critical" | "major_outage" => 4,
        "partial_outage" | "major" => 3,
        "degraded_performance" | "minor" => 2,
        "maintenance" | "under_maintenance" => 1,
        _ => 2,
    }
}

#[derive(Debug, Deserialize)]
struct IncidentIoSummary {
    #[serde(default)]
    page_url: Option<String>,
    ongoing_incidents: Vec<IncidentIoIncident>,
    #[serde(default)]
    in_progress_maintenances: Vec<IncidentIoIncident>,
}

#[derive(Debug, Deserialize)]
struct IncidentIoIncident {
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    current_worst_impact: Option<String>,
    #[serde(default)]
    affected_components: Vec<IncidentIoComponent>,
}

#[derive(Debug, Deserialize)]
struct IncidentIoComponent {
    #[serde(default)]
    name: String,
    #[serde(default)]
    group_name: Option<String>,
}

/// Parses the incident.io summary; `ongoing_incidents` is required so an unrelated JSON document
/// is not mistaken for "no incidents".
pub fn parse_incident_io(
    body: &str,
    region: Option<&Region>,
) -> Result<StatusSnapshot, serde_json::Error> {
    let summary: IncidentIoSummary = serde_json::from_str(body)?;
    let mut incidents = Vec::new();
    let mut other_regions = 0;
    let maintenances = summary
        .in_progress_maintenances
        .into_iter()
        .map(|m| (m, true));
    let ongoing = summary.ongoing_incidents.into_iter().map(|i| (i, false));
    for (incident, is_maintenance) in ongoing.chain(maintenances) {
        let groups: Vec<&str> = incident
            .affected_components
            .iter()
            .filter_map(|c| c.group_name.as_deref())
            .collect();
        let applies = incident.affected_components.is_empty()
            || groups.is_empty()
            || groups.iter().any(|g| group_matches(g, region));
        if !applies {
            other_regions += 1;
            continue;
        }
        let components = incident
            .affected_components
            .iter()
            .map(|c| match &c.group_name {
                Some(group) => format!("{group} / {}", c.name),
                None => c.name.clone(),
            })
            .collect();
        let (status, impact) = if is_maintenance {
            ("maintenance".to_string(), "maintenance".to_string())
        } else {
            (
                incident.status.unwrap_or_else(|| "ongoing".to_string()),
                incident
                    .current_worst_impact
                    .unwrap_or_else(|| "degraded_performance".to_string()),
            )
        };
        incidents.push(StatusIncident {
            name: incident.name,
            status,
            impact,
            url: incident.url,
            components,
        });
    }
    Ok(StatusSnapshot {
        source: StatusSource::IncidentIo,
        page_url: summary
            .page_url
            .unwrap_or_else(|| "https://www.posthogstatus.com/".to_string()),
        incidents,
        other_regions,
        indicator: None,
    })
}

/// A group applies to a region when it names that region's cloud; groups that name no region
/// (e.g. "Website") apply to everyone.
fn group_matches(group: &str, region: Option<&Region>) -> bool {
    let lower = group.to_ascii_lowercase();
    let names_us = lower.starts_with("us ") || lower.contains("us cloud");
    let names_eu = lower.starts_with("eu ") || lower.contains("eu cloud");
    match region {
        Some(Region::Us) => !names_eu,
        Some(Region::Eu) => !names_us,
        // Self-hosted installs are not on PostHog's status page at all; report everything.
        Some(Region::SelfHosted(_)) | None => true,
    }
}

#[derive(Debug, Deserialize)]
struct AtlassianSummary {
    #[serde(default)]
    page: Option<AtlassianPage>,
    status: AtlassianStatus,
    #[serde(default)]
    incidents: Vec<AtlassianIncident>,
}

#[derive(Debug, Deserialize)]
struct AtlassianPage {
    #[serde(default)]
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AtlassianStatus {
    indicator: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AtlassianIncident {
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    impact: Option<String>,
    #[serde(default)]
    shortlink: Option<String>,
    #[serde(default)]
    components: Vec<IncidentIoComponent>,
}

/// Parses the Atlassian Statuspage `summary.json` (the fallback). It has no region groups, so every
/// unresolved incident counts; the overall indicator is kept.
pub fn parse_atlassian(body: &str) -> Result<StatusSnapshot, serde_json::Error> {
    let summary: AtlassianSummary = serde_json::from_str(body)?;
    let mut incidents: Vec<StatusIncident> = summary
        .incidents
        .into_iter()
        .filter(|i| {
            !matches!(
                i.status.as_deref(),
                Some("resolved" | "postmortem" | "completed")
            )
        })
        .map(|i| StatusIncident {
            name: i.name,
            status: i.status.unwrap_or_else(|| "ongoing".to_string()),
            impact: i.impact.unwrap_or_else(|| "minor".to_string()),
            url: i.shortlink,
            components: i.components.into_iter().map(|c| c.name).collect(),
        })
        .collect();
    let indicator = summary.status.indicator;
    if incidents.is_empty() && indicator != "none" {
        // The page is degraded without an incident (a component set by hand): still a finding.
        incidents.push(StatusIncident {
            name: summary
                .status
                .description
                .unwrap_or_else(|| format!("status indicator {indicator}")),
            status: "degraded".to_string(),
            impact: indicator.clone(),
            url: None,
            components: Vec::new(),
        });
    }
    Ok(StatusSnapshot {
        source: StatusSource::Atlassian,
        page_url: summary
            .page
            .and_then(|p| p.url)
            .unwrap_or_else(|| "https://status.posthog.com".to_string()),
        incidents,
        other_regions: 0,
        indicator: Some(indicator),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEALTHY: &str = r#"{"page_title":"PostHog","page_url":"https://www.posthogstatus.com/",
        "ongoing_incidents":[],"in_progress_maintenances":[],"scheduled_maintenances":[]}"#;

    const EU_INCIDENT: &str = r#"{"page_url":"https://www.posthogstatus.com/",
        "ongoing_incidents":[{"id":"01H","name":"Delayed event ingestion","status":"identified",
          "url":"https://www.posthogstatus.com/incidents/01H","current_worst_impact":"partial_outage",
          "affected_components":[{"id":"c1","name":"Event ingestion","group_name":"EU Cloud","current_status":"partial_outage"}]}],
        "in_progress_maintenances":[],"scheduled_maintenances":[]}"#;

    const GLOBAL_INCIDENT: &str = r#"{"ongoing_incidents":[{"name":"Login issues","status":"investigating",
        "current_worst_impact":"full_outage","affected_components":[]}],"in_progress_maintenances":[]}"#;

    #[test]
    fn healthy_summary_is_clear() {
        let snapshot = parse_incident_io(HEALTHY, Some(&Region::Us)).unwrap();
        assert!(snapshot.is_clear());
        assert_eq!(snapshot.page_url, "https://www.posthogstatus.com/");
    }

    #[test]
    fn incidents_are_filtered_by_region_group() {
        let eu = parse_incident_io(EU_INCIDENT, Some(&Region::Eu)).unwrap();
        assert_eq!(eu.incidents.len(), 1);
        assert_eq!(eu.incidents[0].name, "Delayed event ingestion");
        assert_eq!(eu.incidents[0].impact, "partial_outage");
        assert_eq!(eu.incidents[0].components, ["EU Cloud / Event ingestion"]);
        assert_eq!(
            eu.incidents[0].url.as_deref(),
            Some("https://www.posthogstatus.com/incidents/01H")
        );

        let us = parse_incident_io(EU_INCIDENT, Some(&Region::Us)).unwrap();
        assert!(us.is_clear());
        assert_eq!(us.other_regions, 1);
    }

    #[test]
    fn an_incident_without_components_is_global() {
        for region in [Region::Us, Region::Eu] {
            let snapshot = parse_incident_io(GLOBAL_INCIDENT, Some(&region)).unwrap();
            assert_eq!(snapshot.incidents.len(), 1, "{region:?}");
            assert_eq!(snapshot.worst_impact(), Some("full_outage"));
        }
    }

    #[test]
    fn maintenance_in_progress_is_reported() {
        let body = r#"{"ongoing_incidents":[],"in_progress_maintenances":[{"name":"DB upgrade",
            "affected_components":[{"name":"App","group_name":"US Cloud"}]}]}"#;
        let snapshot = parse_incident_io(body, Some(&Region::Us)).unwrap();
        assert_eq!(snapshot.incidents[0].status, "maintenance");
    }

    #[test]
    fn unrelated_json_is_an_error_not_all_clear() {
        assert!(parse_incident_io(r#"{"ok":true}"#, None).is_err());
        assert!(parse_incident_io("<html>", None).is_err());
    }

    #[test]
    fn atlassian_fallback() {
        let clear = r#"{"page":{"url":"https://status.posthog.com"},"status":{"indicator":"none","description":"All Systems Operational"},"incidents":[]}"#;
        assert!(parse_atlassian(clear).unwrap().is_clear());

        let major = r#"{"status":{"indicator":"major","description":"Partial System Outage"},
            "incidents":[{"name":"Ingestion delays","status":"investigating","impact":"major","shortlink":"https://stspg.io/x"},
                         {"name":"Old","status":"resolved","impact":"minor"}]}"#;
        let snapshot = parse_atlassian(major).unwrap();
        assert_eq!(snapshot.incidents.len(), 1);
        assert_eq!(
            snapshot.incidents[0].url.as_deref(),
            Some("https://stspg.io/x")
        );
        assert_eq!(snapshot.indicator.as_deref(), Some("major"));

        let degraded_no_incident = r#"{"status":{"indicator":"minor","description":"Minor Service Outage"},"incidents":[]}"#;
        let snapshot = parse_atlassian(degraded_no_incident).unwrap();
        assert!(!snapshot.is_clear());
        assert_eq!(snapshot.incidents[0].name, "Minor Service Outage");
    }
}
