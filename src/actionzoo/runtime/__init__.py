"""What every long run shares: decode workers, batch packing, stage timing and the progress display."""
