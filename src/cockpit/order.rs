//! The order the node list is shown in: names sorted as people count
//! (`ip-10-0-0-2` before `ip-10-0-0-13`), and the node group the rollout's current
//! step works on first, so that what is changing is in view.

use std::cmp::Ordering;

use crate::model::signals::NodeRow;

/// Compares two names with their runs of digits as numbers: `a2 < a13`.
pub fn natural(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let dx = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let dy = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (nx, ny) = (trim_zeros(&x[..dx]), trim_zeros(&y[..dy]));
                let by_value = nx.len().cmp(&ny.len()).then_with(|| nx.cmp(ny));
                if by_value != Ordering::Equal {
                    return by_value;
                }
                x = &x[dx..];
                y = &y[dy..];
            }
            (Some(p), Some(q)) => {
                if p != q {
                    return p.cmp(q);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let zeros = d.iter().take_while(|c| **c == b'0').count();
    &d[zeros.min(d.len().saturating_sub(1))..]
}

/// Sorts the rows: the group `first` (the current step's) first, then by group, then
/// by name, naturally.
pub fn nodes(rows: &mut [NodeRow], first: Option<&str>) {
    rows.sort_by(|a, b| {
        let away = |r: &NodeRow| Some(r.group.as_str()) != first;
        away(a)
            .cmp(&away(b))
            .then_with(|| a.group.cmp(&b.group))
            .then_with(|| natural(&a.name, &b.name))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_count_as_numbers() {
        let mut names = vec![
            "ip-10-0-0-13",
            "ip-10-0-0-2",
            "ip-10-0-0-1",
            "ip-10-0-1-0",
            "ip-9-0-0-1",
        ];
        names.sort_by(|a, b| natural(a, b));
        assert_eq!(
            names,
            [
                "ip-9-0-0-1",
                "ip-10-0-0-1",
                "ip-10-0-0-2",
                "ip-10-0-0-13",
                "ip-10-0-1-0"
            ]
        );
        assert_eq!(natural("a007", "a7"), Ordering::Less, "equal values: the text decides");
        assert_eq!(natural("b", "a10"), Ordering::Greater);
    }

    #[test]
    fn the_current_group_comes_first() {
        let row = |group: &str, name: &str| NodeRow {
            group: group.into(),
            name: name.into(),
            minor: String::new(),
            kubelet: String::new(),
            zone: String::new(),
            instance_type: String::new(),
            ready: true,
            cordoned: false,
            draining: false,
            terminating: false,
            new: false,
            old: false,
            pods: 0,
            created: None,
        };
        let mut rows = vec![
            row("apps", "n-2"),
            row("batch", "n-13"),
            row("batch", "n-3"),
            row("apps", "n-10"),
        ];
        nodes(&mut rows, Some("batch"));
        let names: Vec<(&str, &str)> = rows.iter().map(|r| (r.group.as_str(), r.name.as_str())).collect();
        assert_eq!(
            names,
            [("batch", "n-3"), ("batch", "n-13"), ("apps", "n-2"), ("apps", "n-10")]
        );
    }
}
