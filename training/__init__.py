"""One command per trained model: build pairs from ../shared/traindata, train, validate on the
last weeks, export weights and a model card."""
