//! CloudWatch through `aws-sdk-cloudwatch`: metric data and alarms (what a gate
//! watches), and putting a metric value. Pages go through the SDK's paginators.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types as cw;
use jiff::Timestamp;

use super::{s, to_dt, ts};
use crate::cloud::error::classify;
use crate::cloud::{AlarmInfo, CloudError, MetricQuery, MetricSeries};

/// The CloudWatch client.
#[derive(Clone, Debug)]
pub struct CloudWatch {
    pub(super) client: aws_sdk_cloudwatch::Client,
}

fn dimensions(dims: &[(String, String)]) -> Vec<cw::Dimension> {
    dims.iter()
        .map(|(k, v)| cw::Dimension::builder().name(k).value(v).build())
        .collect()
}

fn query(q: &MetricQuery) -> cw::MetricDataQuery {
    let metric = cw::Metric::builder()
        .namespace(&q.namespace)
        .metric_name(&q.metric)
        .set_dimensions(Some(dimensions(&q.dimensions)))
        .build();
    let stat = cw::MetricStat::builder()
        .metric(metric)
        .period(q.period)
        .stat(&q.stat)
        .build();
    cw::MetricDataQuery::builder()
        .id(&q.id)
        .metric_stat(stat)
        .return_data(true)
        .build()
}

impl CloudWatch {
    pub async fn metric_data(
        &self,
        queries: &[MetricQuery],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<MetricSeries>, CloudError> {
        let mut pages = self
            .client
            .get_metric_data()
            .set_metric_data_queries(Some(queries.iter().map(query).collect()))
            .start_time(to_dt(start))
            .end_time(to_dt(end))
            .scan_by(cw::ScanBy::TimestampAscending)
            .into_paginator()
            .send();
        let mut series: BTreeMap<String, MetricSeries> = BTreeMap::new();
        while let Some(page) = pages.next().await {
            let out = page.map_err(|e| classify("cloudwatch:GetMetricData", e))?;
            for r in out.metric_data_results() {
                let id = s(r.id());
                let entry = series.entry(id.clone()).or_insert_with(|| MetricSeries {
                    id,
                    label: s(r.label()),
                    points: Vec::new(),
                });
                for (t, v) in r.timestamps().iter().zip(r.values()) {
                    if let Some(t) = ts(Some(t)) {
                        entry.points.push((t, *v));
                    }
                }
            }
        }
        let mut list: Vec<MetricSeries> = queries.iter().filter_map(|q| series.remove(&q.id)).collect();
        for m in &mut list {
            m.points.sort_by_key(|(t, _)| *t);
        }
        Ok(list)
    }

    pub async fn put_metric(&self, metric: &MetricQuery, value: f64) -> Result<(), CloudError> {
        let datum = cw::MetricDatum::builder()
            .metric_name(&metric.metric)
            .set_dimensions(Some(dimensions(&metric.dimensions)))
            .value(value)
            .timestamp(to_dt(Timestamp::now()))
            .build();
        self.client
            .put_metric_data()
            .namespace(&metric.namespace)
            .metric_data(datum)
            .send()
            .await
            .map_err(|e| classify("cloudwatch:PutMetricData", e))?;
        Ok(())
    }

    pub async fn describe_alarms(&self, prefix: Option<&str>) -> Result<Vec<AlarmInfo>, CloudError> {
        let mut pages = self
            .client
            .describe_alarms()
            .set_alarm_name_prefix(prefix.map(str::to_string))
            .into_paginator()
            .send();
        let mut alarms = Vec::new();
        while let Some(page) = pages.next().await {
            let out = page.map_err(|e| classify("cloudwatch:DescribeAlarms", e))?;
            alarms.extend(out.metric_alarms().iter().map(|a| AlarmInfo {
                name: s(a.alarm_name()),
                state: a.state_value().map(|x| x.as_str().to_string()).unwrap_or_default(),
                reason: s(a.state_reason()),
                namespace: s(a.namespace()),
                metric: s(a.metric_name()),
                updated: ts(a.state_updated_timestamp()),
            }));
        }
        Ok(alarms)
    }
}
