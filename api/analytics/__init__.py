"""The analytics API: summary, time series, top posts, account figures, CSV
export, platform definitions, best times to post."""
