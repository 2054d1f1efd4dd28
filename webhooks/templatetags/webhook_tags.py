from django import template

from .. import selectors

register = template.Library()


@register.inclusion_tag("webhooks/job_deliveries.html")
def job_webhook_deliveries(job):
    """The job page's webhook section: `{% load webhook_tags %}{% job_webhook_deliveries job %}`."""
    return selectors.job_deliveries(job=job)
