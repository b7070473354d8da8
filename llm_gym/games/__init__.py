"""Pure task rules and generators, free of Gymnasium so they can be reused and tested alone."""
