"""`ltcli study FILE.yaml`: train and test every point of a grid of options, resumably, and
summarise the results (results.csv, a mean ± sd table, a figure). See `spec` for the file."""
