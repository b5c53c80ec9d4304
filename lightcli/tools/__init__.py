"""The subcommands besides fit/validate/test/predict: check, schema, completion, sweep, diff."""
