"""The SFTP batch path of one worker.

batch consumer, uploader, durable registry store and result poller.
"""

__all__: list[str] = []
