// Status conditions and their comparison (kstatus conventions).
export * from './conditions.ts';
