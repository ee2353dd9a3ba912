"""SFTP batches.

the SFTP client (the only asyncssh user), batch file building, record intake, the batch registry.
"""

__all__: list[str] = []
