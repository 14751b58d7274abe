"""servicedesk: the Chalice application (routes, authorizer, stream handler)."""

from chalice.app import Chalice

from chalicelib import bootstrap
from chalicelib.api.applications import applications_blueprint
from chalicelib.api.appointments import appointments_blueprint
from chalicelib.api.audit import audit_blueprint
from chalicelib.api.auth import auth_blueprint
from chalicelib.api.complaints import complaints_blueprint
from chalicelib.api.customers import customers_blueprint
from chalicelib.api.documents import documents_blueprint
from chalicelib.api.http import problem_middleware
from chalicelib.api.inbox import inbox_blueprint
from chalicelib.api.meta import meta_blueprint
from chalicelib.api.reports import reports_blueprint
from chalicelib.api.reviews import reviews_blueprint
from chalicelib.api.surveys import surveys_blueprint
from chalicelib.api.tickets import tickets_blueprint
from chalicelib.handlers.inbound_mail import inbound_mail_blueprint
from chalicelib.handlers.inbound_sms import inbound_sms_blueprint
from chalicelib.handlers.schedules import schedules_blueprint
from chalicelib.handlers.stream import stream_blueprint
from chalicelib.handlers.uploads import uploads_blueprint

app = Chalice(app_name="servicedesk")
app.debug = False
app.register_blueprint(auth_blueprint)
app.register_blueprint(meta_blueprint)
app.register_blueprint(tickets_blueprint)
app.register_blueprint(customers_blueprint)
app.register_blueprint(surveys_blueprint)
app.register_blueprint(reports_blueprint)
app.register_blueprint(audit_blueprint)
app.register_blueprint(appointments_blueprint)
app.register_blueprint(applications_blueprint)
app.register_blueprint(documents_blueprint)
app.register_blueprint(inbox_blueprint)
app.register_blueprint(complaints_blueprint)
app.register_blueprint(reviews_blueprint)
app.register_blueprint(stream_blueprint)
app.register_blueprint(schedules_blueprint)
app.register_blueprint(uploads_blueprint)
app.register_blueprint(inbound_mail_blueprint)
app.register_blueprint(inbound_sms_blueprint)
app.register_middleware(
    problem_middleware(lambda: bootstrap.container().settings.cors_allowed_origins), "http"
)
