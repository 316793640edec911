"""One module per tab of the page: its components, its events and the handlers behind them."""
