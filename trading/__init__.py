"""The paper desk at work: the pure core (``paper``) run on the pipeline's event stream, its
records stored, its requests acted on, its state pushed to the page, and a restart resumed."""
