# ruff: noqa: E501 - the examples keep the seed's own line lengths
"""Every Python example of the seed document (shared/seed/service-client.txt).

Each one is the seed's text with only its imports changed (``launchkey.*`` becomes
``lk_core``). Two repairs the text itself needs to be Python at all, and nothing more:
the indentation lost when the page was flattened is restored, and a ``pass`` is added to
blocks that hold only a comment. The seed's Flask view returns nothing, which Flask
answers with a 500, so it gets a final ``return ""``. Each example expects a
``service_client`` global.
"""

from __future__ import annotations

CREATE = """
username = "myuser"
authorization_request = service_client.authorization_request(username)
auth_request_id = authorization_request.auth_request
push_package = authorization_request.push_package
device_ids = authorization_request.device_ids
"""

IN_PROGRESS = """
from lk_core import AuthorizationInProgress
username = "myuser"
try:
    authorization_request = service_client.authorization_request(username)
except AuthorizationInProgress as in_progress:
    print("Authorization Request already in progress")
    print("From Same Service : %s" % in_progress.from_same_service)
    print("Existing Auth ID : %s" % in_progress.authorization_request_id)
    print("Auth Expiration Time: %s" % in_progress.expires.strftime("%m/%d/%Y %H:%M:%S UTC"))
"""

CONTEXT = """
username = "myuser"
context = "Access to rear door requested"
authorization_request = service_client.authorization_request(username, context=context)
"""

TITLE_AND_PUSH = """
username = "myuser"
title = "Custom Request"
push_title = "You have a pending request"
push_body = " Do you wish to authorize this request?"
authorization_request = service_client.authorization_request(username, title=title,
                                                             push_title=push_title,
                                                             push_body=push_body)
"""

TTL = """
username = "myuser"
ttl = 60
authorization_request = service_client.authorization_request(username, ttl=ttl)
"""

DENIAL_REASONS = """
from lk_core import DenialReason
username = "myuser"
denial_reasons = [
    DenialReason("a", "Absolute fraud", True),
    DenialReason("b", "Bad timing", False),
    DenialReason("c", "I changed my mind", False)
]
authorization_request = service_client.authorization_request(username, denial_reasons=denial_reasons)
"""

POLICY_ANY = """
from lk_core import AuthPolicy
username = "myuser"
context = "Two factor policy request"
auth_policy = AuthPolicy(any=2)
authorization_request = service_client.authorization_request(username, context=context,
                                                             policy=auth_policy)
"""

POLICY_TYPES = """
from lk_core import AuthPolicy
username = "myuser"
context = "Knowledge and Inherence factors required policy request"
require_knowledge_factor = True
require_inherence_factor = True
require_possession_factor = False
auth_policy = AuthPolicy(knowledge=require_knowledge_factor, inherence=require_inherence_factor,
                         possession=require_possession_factor)
authorization_request = service_client.authorization_request(username, context=context,
                                                             policy=auth_policy)
"""

POLICY_GEOFENCE = """
from lk_core import AuthPolicy
username = "myuser"
context = "Taj Mahal Geofence policy request"
radius_meters = 175 + 20 # 1/3 the longest side of the building + 20m for GPS error.
latitude_degrees = 27.1750
longitude_degrees = 78.0422
auth_policy = AuthPolicy()
auth_policy.add_geofence(latitude=latitude_degrees, longitude=longitude_degrees,
                         radius=radius_meters)
authorization_request = service_client.authorization_request(username, context=context,
                                                             policy=auth_policy)
"""

CANCEL = """
auth_request_id = "d70aef38-2365-11e9-903b-784f4361649f"
authorization_request = service_client.cancel_authorization_request(auth_request_id)
"""

POLLING = """
from lk_core import RequestTimedOut
from time import sleep
user = "my_unique_internal_identifier"
authorization_request = service_client.authorization_request(user)
authorization_request_id = authorization_request.auth_request
response = None
try:
    while response is None:
        sleep(1)
        response = service_client.get_advanced_authorization_response(authorization_request_id)
        if response is not None:
            if response.authorized is True:
                # User logged in
                pass
            else:
                # User denied the auth request
                pass
except RequestTimedOut:
    # The user did not respond to the request in the timeout period (auth ttl)
    pass
"""

TYPE_AND_REASON = """
from lk_core import RequestTimedOut
from lk_core import AuthResponseType, AuthResponseReason
from time import sleep
import logging
logger = logging.getLogger(__name__)
username = "myuser"
auth = service_client.authorization_request(username)
authorization_request_id = auth.auth_request
response = None
try:
    while response is None:
        sleep(1)
        response = service_client.get_advanced_authorization_response(authorization_request_id)
        if response is not None:
            if response.type == AuthResponseType.AUTHORIZED:
                # User logged in
                logging.info("Logged in")
            elif response.type == AuthResponseType.DENIED:
                if response.reason == AuthResponseReason.FRAUDULENT:
                    # User flagged request as fraudulent
                    logging.info("Fraud")
                # Regardless of fraud or not, it's still a denial so handle that as well
                logging.info("Denied due to denial id: %s" % response.denial_reason)
            elif response.type == AuthResponseType.FAILED:
                # The auth request failed due to one of the documented failure types. They can be accessed
                # and handled individually, but let's log the reason.
                logging.error("User auth failed due to: %s" % response.reason.value)
                # Handle failure
            else:
                # Unknown type
                logging.error("Unknown response type")
except RequestTimedOut:
    # The user did not respond to the request in the timeout period (5 minutes)
    pass
"""

SESSION_START = """
authorization_request_id = "b1d05c28-0b18-41e4-94a0-853758eeefc8"
username = "myuser"
service_client.session_start(username, authorization_request_id)
"""

SESSION_END = """
username = "myuser"
service_client.session_end(username)
"""

VERIFY_TOTP = """
username = "myuser"
otp = "569874"
valid = service_client.verify_totp(username, otp)
"""

# Needs ``service_client``, ``user``, ``auth_request_id`` and
# ``logout_user_from_my_app`` from the surrounding program, as in the seed.
FLASK_WEBHOOK = """
# Flask example
from flask import Flask, request
from lk_core import AdvancedAuthorizationResponse, SessionEndRequest
app = Flask(__name__)
# Path defined in your Service Callback URL value
@app.route('/webhook', methods = ['POST'])
def launchkey_webhook():
    package = service_client.handle_webhook(request.data, request.headers, request.method, request.path)
    if isinstance(package, AdvancedAuthorizationResponse):
        if package.authorized is True:
            # User accepted the auth, now create a session
            service_client.session_start(user, auth_request_id)
        else:
            # User denied the auth
            pass
    elif isinstance(package, SessionEndRequest):
        # The package will have the user hash, so use it to log the user out based on however you are handling it
        logout_user_from_my_app(package.service_user_hash)
    return ""
"""
