"""Research on datasets: a gradient-boosted baseline with an honest out-of-sample evaluation, and live
signals from a saved model (`predict`)."""
