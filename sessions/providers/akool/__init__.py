"""The AKool Live Avatar provider: an httpx client for AKool's open API.

- provider.py: AkoolProvider, base.Provider's calls (sessions and the catalog);
- http.py: the authenticated request, its retries, the reading of every answer, redaction;
- parsing.py: sessions (with each network's join credentials and creation time) and catalog
  items.

Nothing here imports Django: the factory passes the settings in, and tests point `base_url`
at a fake server on loopback.
"""

from sessions.providers.akool.parsing import parse_session
from sessions.providers.akool.provider import AkoolProvider

__all__ = ["AkoolProvider", "parse_session"]
