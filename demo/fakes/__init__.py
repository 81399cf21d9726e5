"""Stateful fakes of Jira Cloud, Zendesk Support and Zoho Desk, served on loopback over real HTTP.

The test suite drives them, and ``make demo`` serves them as the simulated Jira site and helpdesks the demo
runs against. They depend only on the product's own dependencies (no test tools), and the product's code
never imports them."""
