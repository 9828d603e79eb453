"""Parts of `benchmarks/delivery_bench.py`: the receivers, the senders, the private
Postfix and the navixy-panel service it measures."""
