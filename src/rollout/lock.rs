//! One cockpit drives a cluster at a time: a Lease in the cluster says which.
