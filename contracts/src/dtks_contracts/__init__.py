"""Contracts of the DTKS/DTSEN social welfare register: what its services and partners exchange.

Modules (import what you need; importing this package itself loads nothing):
  regions        region codes, names, hierarchy and population (packaged reference list)
  identifiers    NIK and KK number types and parsing; ids and decree numbers
  vocabulary     roles, tiers, proposal kinds, programs, reason codes, household categories
  household      the register record: household, members, housing, assets, evidence
  actor          who acted, in which role and region
  envelope       the event envelope, its wire format and typed payload access
  events         payload models of every event type, and EVENT_TYPES
  topics         Kafka topics, partition keys, prefixes and dead-letter topics
  upcasting      lifting old payload versions to the current one
  schemas        generating and checking the committed JSON Schemas (`dtks-schemas`)
  register_hash  the determination's register hash, recomputable by anyone holding the register
"""
