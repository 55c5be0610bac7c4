"""Where events come from: the sources (sim, live, replay), recording and replay."""
